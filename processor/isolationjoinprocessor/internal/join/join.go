// Package join finds the kernel events that belong to a span (DESIGN §4)
// and says how well they matched: 5tuple, peer, process, node, unmatched.
package join

import (
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/index"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/spankey"
)

// Match qualities, best first.
const (
	Quality5Tuple    = "5tuple"
	QualityPeer      = "peer"
	QualityProcess   = "process"
	QualityNode      = "node"
	QualityUnmatched = "unmatched"
)

// Qualities lists the match qualities best first.
var Qualities = []string{Quality5Tuple, QualityPeer, QualityProcess, QualityNode, QualityUnmatched}

// Span is the span side of one join.
type Span struct {
	Keys     spankey.Keys // Host already defaulted to the node's name when absent
	Netns    int64        // the span process's network namespace, 0 when unknown
	From, To int64        // the window, unix ns
}

// Result is the evidence of one span.
type Result struct {
	Quality string
	// Covered is true when the span's node sends kernel events, so an empty
	// window means "nothing happened" rather than "nobody looked".
	Covered bool
	Events  []*kevent.Event
}

// Joiner reuses its scratch space between spans; one per goroutine.
type Joiner struct {
	seen map[*kevent.Event]struct{}
}

// Join collects the events of s from x. Each event appears once, reached by
// the best key that finds it.
func (j *Joiner) Join(x *index.Index, s Span, dst []*kevent.Event) Result {
	if j.seen == nil {
		j.seen = map[*kevent.Event]struct{}{}
	}
	clear(j.seen)
	k := &s.Keys
	res := Result{Events: dst[:0], Covered: x.Covers(k.Host)}
	found := func(q string) func(*kevent.Event) {
		return func(e *kevent.Event) {
			if _, dup := j.seen[e]; dup {
				return
			}
			j.seen[e] = struct{}{}
			res.Events = append(res.Events, e)
			if res.Quality == "" {
				res.Quality = q
			}
		}
	}
	if k.Local.IsValid() && k.Peer.IsValid() {
		visit := found(Quality5Tuple)
		x.ByTuple(k.Local, k.Peer, s.From, s.To, func(e *kevent.Event) {
			// 5-tuples repeat across namespaces: when both sides know theirs,
			// they must agree.
			if s.Netns != 0 && e.Netns != 0 && s.Netns != e.Netns {
				return
			}
			visit(e)
		})
		// The same connection seen from its other end.
		x.ByTuple(k.Peer, k.Local, s.From, s.To, visit)
	}
	if k.HasProcess() {
		visit := found(QualityPeer)
		switch {
		case k.Peer.IsValid():
			x.ByPeer(k.Peer, s.From, s.To, func(e *kevent.Event) {
				if belongs(e, k) {
					visit(e)
				}
			})
		case k.PeerHost != "" && k.PeerPort != 0:
			// A hostname is not an address: only the port, within the
			// span's own process, can tie an event to this peer.
			eachProcess(x, k, s.From, s.To, func(e *kevent.Event) {
				if e.Peer.IsValid() && e.Peer.Port() == k.PeerPort {
					visit(e)
				}
			})
		}
		visit = found(QualityProcess)
		networkSpan := k.Peer.IsValid() || k.PeerHost != ""
		eachProcess(x, k, s.From, s.To, func(e *kevent.Event) {
			// A network span is explained by its own connection, not by
			// the process's other sockets.
			if networkSpan && e.Peer.IsValid() {
				return
			}
			visit(e)
		})
	}
	x.ByNode(k.Host, s.From, s.To, found(QualityNode))
	switch {
	case res.Quality != "":
	case k.HasProcess() && res.Covered:
		// The process is known and its node watched: an empty window is
		// an answer (the verdict will be app).
		res.Quality = QualityProcess
	default:
		res.Quality = QualityUnmatched
	}
	return res
}

func eachProcess(x *index.Index, k *spankey.Keys, from, to int64, visit func(*kevent.Event)) {
	if k.PID > 0 {
		x.ByPID(k.Host, k.PID, from, to, visit)
	}
	if k.ContainerID != "" {
		x.ByContainer(k.ContainerID, from, to, visit)
	}
	if k.PodUID != "" {
		x.ByPod(k.PodUID, from, to, visit)
	}
	if k.CgroupPath != "" {
		x.ByCgroup(k.CgroupPath, from, to, visit)
	}
}

func belongs(e *kevent.Event, k *spankey.Keys) bool {
	return (k.PID > 0 && e.PID == k.PID && e.Host == k.Host) ||
		(k.ContainerID != "" && e.ContainerID == k.ContainerID) ||
		(k.PodUID != "" && e.PodUID == k.PodUID) ||
		(k.CgroupPath != "" && e.CgroupPath == k.CgroupPath)
}
