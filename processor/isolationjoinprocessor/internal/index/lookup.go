// Lookups: a key's window of events (a map access and a binary search).
package index

import (
	"net/netip"

	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// window is the part of l with from ≤ time ≤ to.
func window(l List, from, to int64) Entries {
	lo := searchTime(l, from)
	hi := lo + searchTime(l[lo:], to+1)
	return Entries(l[lo:hi])
}

// searchTime is the first index with time ≥ t (sort.Search without the
// closure call per step).
func searchTime(l List, t int64) int {
	lo, hi := 0, len(l)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l[m].time < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// ByPeer is the window of the events whose socket's peer is peer.
func (x *Index) ByPeer(peer netip.AddrPort, from, to int64) Entries {
	return window(x.peers[keyOf(peer)], from, to)
}

// PIDList is every event of process pid on host: look it up once per
// resource, then take each span's window of it.
func (x *Index) PIDList(host string, pid int64) List { return x.pids[hostPID{host, pid}] }

// ContainerList is every event of a container.
func (x *Index) ContainerList(id string) List { return x.containers[id] }

// CgroupList is every event of a cgroup path.
func (x *Index) CgroupList(path string) List { return x.cgroups[path] }

// PodList is every event of a pod.
func (x *Index) PodList(uid string) List { return x.pods[uid] }

// NodeList is every node-wide event of host.
func (x *Index) NodeList(host string) List { return x.nodes[host] }

// ByDevice is the window of the block IO events on host's disk dev (a
// loop device's IO counts under its backing disk).
func (x *Index) ByDevice(host, dev string, from, to int64) Entries {
	return window(x.devices[devKey{host, dev}], from, to)
}

// IOWaits is the window of host's slow IO syscall bodies (the flush
// family and positional writes: kevent.Event.DiskWait), whoever made them.
func (x *Index) IOWaits(host string, from, to int64) Entries {
	return window(x.iowaits[host], from, to)
}

// VirtioDisk is the virtio disk (vd*) of host with a block IO, directly or
// through a loop device on it, of at least minLatency overlapping
// [from, to]; "" when there is none. reach is how long after to a
// request that overlaps the window may complete.
func (x *Index) VirtioDisk(host string, from, to, reach int64, minLatency int64) string {
	best, bestN := "", int64(0)
	for k, l := range x.devices {
		if k.host != host || !layers.VirtioDisk(k.dev) {
			continue
		}
		w := window(l, from, to+max(reach, 0))
		var n int64
		for i := 0; i < w.Len(); i++ {
			e := w.At(i)
			if e.DurationNs >= minLatency && e.Time-e.DurationNs <= to {
				n++
			}
		}
		if n > bestN || (n == bestN && n > 0 && k.dev < best) {
			best, bestN = k.dev, n
		}
	}
	return best
}

// BlockDevice is the disk a block IO event loads (see ByDevice).
func BlockDevice(e *kevent.Event) string { return blockDevice(e) }

// ConnList is every event of the connection key t (Conn of its two ends).
func (x *Index) ConnList(t Tuple) List { return x.tuples[t] }

// PeerList is every event whose socket's peer is peer: ByPeer without
// the window, for a caller that windows one list for many spans.
func (x *Index) PeerList(peer netip.AddrPort) List { return x.peers[keyOf(peer)] }
