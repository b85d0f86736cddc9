// Verdict rules that need the processor's state (peer on this node, noisy neighbour on a shared disk).
package isolationjoinprocessor

import (
	"net/netip"

	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/classify"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/conntable"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/index"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/spankey"
)

// peerOnThisNode applies the last rule of docs/design.md §5: loss with no local drop
// is the path's ("network") unless the peer is on this node, in which case
// it is the peer's layer. The peer is on this node when an event of the
// other end of the connection (its local side is the span's peer) came
// from this node with a pid /proc knows. Only a container or sandbox
// boundary around the peer is taken as its layer (layers.PeerBoundary);
// otherwise the verdict stays network and the cause says where the peer is.
func (p *joinProcessor) peerOnThisNode(v *classify.Verdict, keys spankey.Keys, events []*kevent.Event, otherEnds []*conntable.Conn) {
	// The other ends the connection table found (across a DNAT too),
	// then the events whose local side is the span's peer.
	for _, c := range otherEnds {
		if c.Host == p.hostname && c.PID > 0 && p.peerLayer(v, c.Local, c.PID) {
			return
		}
	}
	if !keys.Peer.IsValid() {
		return
	}
	for _, e := range events {
		if e.Local != keys.Peer || e.Host != p.hostname || e.PID <= 0 {
			continue
		}
		if p.peerLayer(v, keys.Peer, e.PID) {
			return
		}
	}
}

// peerLayer rewrites v for a peer at ep run by pid on this node; false
// when /proc does not know pid.
func (p *joinProcessor) peerLayer(v *classify.Verdict, ep netip.AddrPort, pid int64) bool {
	proc, ok := p.resolver.Process(pid)
	if !ok {
		return false
	}
	where := proc.Stack.String()
	if l := proc.Stack.Innermost(); layers.PeerBoundary(l) {
		v.Layer = l
		v.Cause = l + " (peer " + ep.String() + " on this node, " + where + "): " + v.Cause
		return true
	}
	v.Cause += "; peer " + ep.String() + " is on this node (" + where + ")"
	return true
}

// noisyNeighbour names, in the cause of a span slowed by a virtio-backed
// disk, the cgroup with the most slow IO on that disk during the span when
// it is not the span's own: the neighbour whose IO fills the shared queue.
// Called with p.mu held.
func (p *joinProcessor) noisyNeighbour(v *classify.Verdict, keys *spankey.Keys, start, end int64, disk string) {
	dev := ""
	for _, at := range v.Events {
		if classify.VirtioBacked(at.Event) {
			dev = index.BlockDevice(at.Event)
			break
		}
	}
	if dev == "" {
		dev = disk
	}
	if dev == "" {
		return
	}
	type load struct {
		cgroup string
		ns     int64
	}
	var buf [8]load
	loads := buf[:0]
	reach := end + max(int64(p.cfg.Slack), 0)
	// The neighbour's requests on the disk, and its slow IO syscalls on
	// the node (its fsyncs wait for the same queue; they show the cgroup
	// when its requests are below the receiver's block_io threshold).
	for _, w := range [...]index.Entries{p.idx.ByDevice(keys.Host, dev, start, reach), p.idx.IOWaits(keys.Host, start, reach)} {
		for i := 0; i < w.Len(); i++ {
			e := w.At(i)
			cg := e.CgroupPath
			if cg == "" || cg == "/" || cg == keys.CgroupPath || cg == keys.CPUCgroupPath || cg == keys.V2CgroupPath {
				continue
			}
			ov := min(e.Time, end) - max(e.Time-e.DurationNs, start)
			if ov <= 0 {
				continue
			}
			j := 0
			for j < len(loads) && loads[j].cgroup != cg {
				j++
			}
			if j == len(loads) {
				loads = append(loads, load{cgroup: cg})
			}
			loads[j].ns += ov
		}
	}
	best := -1
	for j := range loads {
		if best < 0 || loads[j].ns > loads[best].ns {
			best = j
		}
	}
	if best >= 0 {
		v.Cause += "; noisy neighbour " + loads[best].cgroup + " (slow io on " + dev + ")"
	}
}

// hasIOSyscall reports a slow IO syscall body among events.
func hasIOSyscall(events []*kevent.Event) bool {
	for _, e := range events {
		if e.DiskWait() {
			return true
		}
	}
	return false
}
