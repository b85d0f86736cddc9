// Package join finds the kernel events that belong to a span (docs/design.md §4)
// and says how well they matched: 5tuple, peer, process, node, unmatched.
package join

import (
	"net/netip"

	"github.com/crosshair-otel/crosshair/internal/contract"
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
	// Late is how far past To a record summing an interval may be stamped
	// (it is stamped at the interval's end): such a record whose interval
	// starts by To is the span's.
	Late int64
	// Conns are the span's connections found in the connection table, and
	// their other ends on this node: events of each count from either
	// socket's side, under ConnQuality (5tuple when the span's connection
	// is known exactly, peer for candidates of a pool).
	Conns       []ConnRef
	ConnQuality string
	// Start and End are the span's own bounds (unix ns). When its
	// connection is one of several candidates (a keep-alive pool), a
	// retransmit on a candidate is the span's only if the segment was
	// both sent and resent while the span ran: a concurrent exchange on
	// another pooled connection does not delay it.
	Start, End int64
}

// ContainSkew is how far a retransmit's wait may stick out of a span with
// candidate connections: the kernel's clock converted to wall-clock time
// and the application's may differ by this much.
const ContainSkew = 2_000_000

// duringSpan reports whether e, a loss on one of several candidate
// connections, happened inside the span: the wait it measured (or, without
// a measurement, the retransmit itself) lies within [Start, End].
func (s *Span) duringSpan(e *kevent.Event) bool {
	if e.Name != contract.EventTCPRetransmit {
		return true
	}
	return e.Time-e.DurationNs >= s.Start-ContainSkew && e.Time <= s.End+ContainSkew
}

// ConnRef is one socket as its owner sees it.
type ConnRef struct {
	Local, Peer netip.AddrPort
	Netns       int64
	// OwnLocal is true when Local is this socket's own end (a client's
	// ephemeral port): every event whose peer is Local is then the other
	// end's, whether or not the connection table knows that socket yet
	// (an accepted socket's owner may be learned after its first events),
	// and across a DNAT, which keeps the client's endpoint.
	OwnLocal bool
	// Cand is the index of the candidate connection this socket is (or
	// is the other end of), among the span's candidates.
	Cand int
}

// On reports whether e is an event of socket r or, when r's local end
// is its own, of r's other end.
func (r *ConnRef) On(e *kevent.Event) bool {
	return (e.Local == r.Local && e.Peer == r.Peer) || (r.OwnLocal && e.Peer == r.Local)
}

// Result is the evidence of one span.
type Result struct {
	Quality string
	// Covered is true when the span's node sends kernel events, so an empty
	// window means "nothing happened" rather than "nobody looked".
	Covered bool
	Events  []*kevent.Event
}

// collector gathers the events of one span, each once, remembering the
// best quality that found any.
type collector struct {
	res  *Result
	seen map[*kevent.Event]struct{} // only once the events outgrow a linear scan
}

const linearDedup = 32

func (c *collector) add(q string, e *kevent.Event) {
	evs := c.res.Events
	if c.seen == nil && len(evs) < linearDedup {
		for _, x := range evs {
			if x == e {
				return
			}
		}
	} else {
		if c.seen == nil {
			c.seen = make(map[*kevent.Event]struct{}, 2*len(evs))
			for _, x := range evs {
				c.seen[x] = struct{}{}
			}
		}
		if _, dup := c.seen[e]; dup {
			return
		}
		c.seen[e] = struct{}{}
	}
	c.res.Events = append(evs, e)
	if c.res.Quality == "" {
		c.res.Quality = q
	}
}

// Resource is what the index holds for a resource's process and node:
// looked up once, then shared by every span of the resource (SDKs send
// many spans per resource). Valid while the index is not changed.
type Resource struct {
	covered                   bool
	pid, container, pod, cgrp index.List
	cgrpCPU, cgrpV2           index.List // the process's other cgroup paths, when they differ
	node                      index.List
	// The last connection looked up: spans of one resource often share
	// a connection (a client's keep-alive pool).
	conn     index.Tuple
	connList index.List
	hasConn  bool
	// memo holds the candidate connections' lists (UseMemo); nil: each
	// is looked up in the index.
	memo *Memo
}

// Memo holds the index lists of the candidate connections looked up for
// one resource, by their ends: a pool's few connections are every span's
// candidates. One Memo serves resource after resource (Resource.UseMemo):
// an array, so a batch of one-span resources allocates nothing, and not
// in the Resource, whose every copy would then move its 1.5 KB.
type Memo struct {
	lists [maxMemoLists]endsList
	n     int
	next  int // where the next lookup starts: one past the last hit
}

// UseMemo gives r the memo m, emptied: its lists were another resource's,
// or of an index that has changed since.
func (r *Resource) UseMemo(m *Memo) {
	clear(m.lists[:m.n])
	m.n, m.next = 0, 0
	r.memo = m
}

// endsList is the index list of one connection (peer side only: the
// events whose socket's peer is local).
type endsList struct {
	local, peer netip.AddrPort
	peerOnly    bool
	list        index.List
}

// maxMemoLists bounds a Memo: past it, lookups go to the index.
// A pooled client's candidate connection takes up to three lists (its
// key, its other end's, its own end's as a peer): sixteen hold a pool of
// four or five, the common size of a keep-alive pool under load.
const maxMemoLists = 16

// listOf is the index list of the connection local→peer (peerOnly: of the
// events whose peer is local), looked up once per resource.
func (r *Resource) listOf(x *index.Index, local, peer netip.AddrPort, peerOnly bool) index.List {
	m := r.memo
	if m != nil {
		// The spans of a resource look up the same connections in the
		// same order: starting one past the last hit, the next is
		// usually first.
		for k := range m.n {
			i := (m.next + k) % m.n
			if e := &m.lists[i]; e.local == local && e.peer == peer && e.peerOnly == peerOnly {
				m.next = i + 1
				return e.list
			}
		}
	}
	var l index.List
	if peerOnly {
		l = x.PeerList(local)
	} else {
		l = x.ConnList(index.Conn(local, peer))
	}
	if m != nil && m.n < maxMemoLists {
		m.lists[m.n] = endsList{local, peer, peerOnly, l}
		m.n++
	}
	return l
}

// Prepare looks up the resource-level keys of k (Host, PID, ContainerID,
// PodUID, CgroupPath).
func Prepare(x *index.Index, k *spankey.Keys) Resource {
	return PrepareAfter(x, k, nil)
}

// Host is the node-level part of a Resource, to carry to the next resource.
type Host struct {
	name    string
	covered bool
	node    index.List
}

// Host returns r's node-level part; host is the resource's Keys.Host.
func (r *Resource) Host(host string) Host { return Host{host, r.covered, r.node} }

// PrepareAfter is Prepare reusing the node-level lookups of prev, the Host
// of the previous resource of the batch (nil for none), when that one was
// on the same node: the resources of a batch usually share their node.
func PrepareAfter(x *index.Index, k *spankey.Keys, prev *Host) Resource {
	var r Resource
	if prev != nil && prev.name == k.Host {
		r.covered, r.node = prev.covered, prev.node
	} else {
		r.covered, r.node = x.Covers(k.Host), x.NodeList(k.Host)
	}
	if k.PID > 0 {
		r.pid = x.PIDList(k.Host, k.PID)
	}
	if k.ContainerID != "" {
		r.container = x.ContainerList(k.ContainerID)
	}
	if k.PodUID != "" {
		r.pod = x.PodList(k.PodUID)
	}
	if ownCgroup(k.CgroupPath) {
		r.cgrp = x.CgroupList(k.CgroupPath)
	}
	if p := k.CPUCgroupPath; ownCgroup(p) && p != k.CgroupPath {
		r.cgrpCPU = x.CgroupList(p)
	}
	if p := k.V2CgroupPath; ownCgroup(p) && p != k.CgroupPath && p != k.CPUCgroupPath {
		r.cgrpV2 = x.CgroupList(p)
	}
	return r
}

// Join collects the events of s from x into dst[:0]. Each event appears
// once, reached by the best key that finds it.
func Join(x *index.Index, s Span, dst []*kevent.Event) Result {
	r := Prepare(x, &s.Keys)
	return JoinPrepared(x, &r, s, dst)
}

// JoinPrepared is Join with the resource-level lookups of r, which must be
// Prepare of s.Keys' resource part on the same, unchanged index.
func JoinPrepared(x *index.Index, r *Resource, s Span, dst []*kevent.Event) Result {
	k := &s.Keys
	res := Result{Events: dst[:0], Covered: r.covered}
	c := collector{res: &res}
	if k.Local.IsValid() && k.Peer.IsValid() {
		// One key holds what both ends saw: local→peer from the span's
		// side, peer→local from the other end (both ends on this node).
		t := index.Conn(k.Local, k.Peer)
		if !r.hasConn || r.conn != t {
			r.conn, r.connList, r.hasConn = t, x.ConnList(t), true
		}
		w := r.connList.Window(s.From, s.To)
		for i := 0; i < w.Len(); i++ {
			e := w.At(i)
			switch {
			case e.Local == k.Local && e.Peer == k.Peer:
				// 5-tuples repeat across namespaces: when both sides
				// know theirs, they must agree.
				if s.Netns == 0 || e.Netns == 0 || s.Netns == e.Netns {
					c.add(Quality5Tuple, e)
				}
			case e.Local == k.Peer && e.Peer == k.Local:
				c.add(Quality5Tuple, e)
			}
		}
	}
	for _, cr := range s.Conns {
		w := r.listOf(x, cr.Local, cr.Peer, false).Window(s.From, s.To)
		for i := 0; i < w.Len(); i++ {
			e := w.At(i)
			// The reverse orientation is the same connection seen from
			// the other end's namespace: behind a DNAT, the client's
			// namespace sees the server's real address (a drop there of
			// a request on its way to the pod), which only the server
			// socket's key, reversed, reaches.
			same := e.Local == cr.Local && e.Peer == cr.Peer && (cr.Netns == 0 || e.Netns == 0 || cr.Netns == e.Netns)
			if (same || (e.Local == cr.Peer && e.Peer == cr.Local)) && (s.ConnQuality != QualityPeer || s.duringSpan(e)) {
				c.add(s.ConnQuality, e)
			}
		}
		if cr.OwnLocal {
			w := r.listOf(x, cr.Local, netip.AddrPort{}, true).Window(s.From, s.To)
			for i := 0; i < w.Len(); i++ {
				if e := w.At(i); s.ConnQuality != QualityPeer || s.duringSpan(e) {
					c.add(s.ConnQuality, e)
				}
			}
		}
	}
	if k.HasProcess() {
		to := s.To + max(s.Late, 0)
		windows := [...]index.Entries{
			r.pid.Window(s.From, to),
			r.container.Window(s.From, to),
			r.pod.Window(s.From, to),
			r.cgrp.Window(s.From, to),
			r.cgrpCPU.Window(s.From, to),
			r.cgrpV2.Window(s.From, to),
		}
		switch {
		case k.Local.IsValid() && k.Peer.IsValid():
			// The 5-tuple names the connection: the process's other
			// connections to the same peer are not this span's. An event
			// that knows only the peer (a connect wait, before the socket
			// has its local port) is this span's when the process's.
			w := x.ByPeer(k.Peer, s.From, s.To)
			for i := 0; i < w.Len(); i++ {
				if e := w.At(i); !e.Local.IsValid() && belongs(e, k) {
					c.add(QualityPeer, e)
				}
			}
		case k.Peer.IsValid():
			w := x.ByPeer(k.Peer, s.From, s.To)
			for i := 0; i < w.Len(); i++ {
				if e := w.At(i); belongs(e, k) && (s.ConnQuality != QualityPeer || s.duringSpan(e)) {
					c.add(QualityPeer, e)
				}
			}
		case k.PeerHost != "" && k.PeerPort != 0:
			// A hostname is not an address: only the port, within the
			// span's own process, can tie an event to this peer.
			for _, w := range windows {
				for i := 0; i < w.Len(); i++ {
					if e := w.At(i); e.Peer.IsValid() && e.Peer.Port() == k.PeerPort && e.Time <= s.To &&
						(s.ConnQuality != QualityPeer || s.duringSpan(e)) {
						c.add(QualityPeer, e)
					}
				}
			}
		}
		for _, w := range windows {
			for i := 0; i < w.Len(); i++ {
				// An event with a network peer is about that connection:
				// it joins only through the 5-tuple or peer keys above,
				// never through its process alone (a connect wait to
				// payment is the client span's, not the server span's
				// that happens to run in the same process).
				// A node/cgroup-wide sum of a loss the node also reports
				// per thread is not this process's: its own records are.
				// Throttling and steal measured per thread are the
				// threads' own process's, not their cgroup neighbours'.
				if e := w.At(i); !e.Peer.IsValid() && !aggregate(e) && !otherThreads(e, k) && (e.Time <= s.To || intervalReaches(e, s.To)) {
					c.add(QualityProcess, e)
				}
			}
		}
	}
	// Node-wide sums that the node also reports per process (steal) are
	// for spans whose process is unknown. A sum over an interval (steal
	// per poll) is stamped at the interval's end.
	w := r.node.Window(s.From, s.To+max(s.Late, 0))
	for i := 0; i < w.Len(); i++ {
		if e := w.At(i); (e.Time <= s.To || intervalReaches(e, s.To)) && !(aggregate(e) && k.HasProcess()) {
			c.add(QualityNode, e)
		}
	}
	switch {
	case res.Quality != "" && (s.ConnQuality == "" || rank(res.Quality) <= rank(s.ConnQuality)):
	case s.ConnQuality != "":
		// The connection table tied the span to its connection(s): that
		// is the match, whether or not they carried evidence.
		res.Quality = s.ConnQuality
	case k.HasProcess() && r.covered:
		// The process is known and its node watched: an empty window is
		// an answer (the verdict will be app).
		res.Quality = QualityProcess
	default:
		res.Quality = QualityUnmatched
	}
	return res
}

// rank is q's position in Qualities (0 = best).
func rank(q string) int {
	for i, x := range Qualities {
		if x == q {
			return i
		}
	}
	return len(Qualities)
}

func aggregate(e *kevent.Event) bool { return e.Detail != nil && e.Detail.Aggregate }

// otherThreads reports a per-thread CPU loss record (throttling, steal with
// a pid) of another process than the span's known one.
func otherThreads(e *kevent.Event, k *spankey.Keys) bool {
	return e.PID > 0 && k.PID > 0 && (e.PID != k.PID || e.Host != k.Host) &&
		(e.Name == contract.EventCgroupThrottle || e.Name == contract.EventCPUSteal)
}

// intervalReaches reports whether e sums an interval that starts by to.
func intervalReaches(e *kevent.Event, to int64) bool {
	return e.Detail != nil && e.Detail.IntervalNs > 0 && e.Detail.IntervalStart <= to
}

func belongs(e *kevent.Event, k *spankey.Keys) bool {
	return (k.PID > 0 && e.PID == k.PID && e.Host == k.Host) ||
		(k.ContainerID != "" && e.ContainerID == k.ContainerID) ||
		(k.PodUID != "" && e.PodUID == k.PodUID) ||
		(ownCgroup(k.CgroupPath) && e.CgroupPath == k.CgroupPath) ||
		(ownCgroup(k.CPUCgroupPath) && e.CgroupPath == k.CPUCgroupPath) ||
		(ownCgroup(k.V2CgroupPath) && e.CgroupPath == k.V2CgroupPath)
}

// ownCgroup reports whether a cgroup path can stand for a process: the
// root cgroup ("/") holds every task not placed anywhere else — kernel
// threads (the loop worker, writeback, kblockd) and, in a hierarchy the
// process never joined (a v1 setup's unified path), every process — so its
// events are nobody's in particular.
func ownCgroup(p string) bool { return p != "" && p != "/" }
