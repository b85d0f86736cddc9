// Package index keeps kernel events by key and time for the join. Every key
// maps to its own time-ordered List, so a lookup costs a map access plus a
// binary search in that key's List, never a scan of the whole index: the
// cost per span stays flat however many events are indexed.
//
// The index is not safe for concurrent use; the processor guards it.
package index

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// addrKey is an address:port packed into plain bytes: hashed and compared
// as one block of memory, half the size of a netip.AddrPort (which carries
// a pointer and padding). Addresses are normalized before they get here
// (IPv4-mapped IPv6 is IPv4, no zone), so the 16-byte form is faithful.
type addrKey struct {
	a [16]byte
	p [2]byte
}

func keyOf(ap netip.AddrPort) addrKey {
	port := ap.Port()
	return addrKey{a: ap.Addr().As16(), p: [2]byte{byte(port >> 8), byte(port)}}
}

func (k addrKey) less(o addrKey) bool {
	if c := bytes.Compare(k.a[:], o.a[:]); c != 0 {
		return c < 0
	}
	return k.p[0] < o.p[0] || (k.p[0] == o.p[0] && k.p[1] < o.p[1])
}

// Tuple is a connection keyed the same from both ends: the lower
// address:port first. One lookup then finds what either end saw.
type Tuple struct{ A, B addrKey }

// Conn returns the key of the connection between x and y.
func Conn(x, y netip.AddrPort) Tuple {
	a, b := keyOf(x), keyOf(y)
	if b.less(a) {
		a, b = b, a
	}
	return Tuple{a, b}
}

type devKey struct{ host, dev string }

// blockDevice is the disk an IO event loads: the backing device of a loop
// device, else its own.
func blockDevice(e *kevent.Event) string {
	if e.Detail == nil {
		return ""
	}
	if e.Detail.BackingDevice != "" {
		return e.Detail.BackingDevice
	}
	return e.Detail.BlockDevice
}

// hostState is what the index knows of one sending node.
type hostState struct {
	// watermark is the newest event time of the node: a held span of the
	// node waits for it, so a node whose clock runs ahead releases no
	// other node's spans.
	watermark int64
	// rounds holds, per event name, the node's latest round of records
	// summing an interval (cgroup throttling, steal: polled): such a
	// record lags the spans it explains by up to its interval. The latest
	// round, not the longest ever: one late poll must not hold every
	// later span for max_delay. Nil until the node sends one.
	rounds map[string]round
}

// round is one poll's interval and the time its records are stamped with.
type round struct{ interval, at int64 }

// maxRounds bounds a node's rounds map (one entry per summing event name).
const maxRounds = 8

type hostPID struct {
	host string
	pid  int64
}

// entry keeps the time next to the pointer: the binary search of a
// window then reads one contiguous slice instead of chasing a pointer (a
// cache miss) per step.
type entry struct {
	time int64
	e    *kevent.Event
}

// List is one key's events, oldest first. It stays valid while the index
// is not changed (the caller holds the index's lock).
type List []entry

// Window is the part of l with from ≤ time ≤ to.
func (l List) Window(from, to int64) Entries { return window(l, from, to) }

// Entries is a window of one key's events, oldest first.
type Entries []entry

// Len is the number of events in the window.
func (w Entries) Len() int { return len(w) }

// At is the i-th event of the window.
func (w Entries) At(i int) *kevent.Event { return w[i].e }

// Index holds the events of the last Retention, at most MaxEvents of them.
type Index struct {
	maxEvents int
	maxBytes  int64 // 0: no byte bound
	bytes     int64 // Bytes of the live events
	retention int64

	// fifo holds every indexed event in insertion order; fifo[head:] are live.
	// Eviction follows it, so the oldest ingested go first.
	fifo []*kevent.Event
	head int

	tuples     map[Tuple]List
	peers      map[addrKey]List
	pids       map[hostPID]List
	containers map[string]List
	cgroups    map[string]List
	pods       map[string]List
	nodes      map[string]List // node-wide events (no socket, no process), by host
	devices    map[devKey]List // block IO events, by host and backing (else own) device
	iowaits    map[string]List // slow IO syscall bodies (fsync…), by host
	hosts      map[string]hostState

	batching bool                // inside AddBatch: late inserts wait for settle
	dirty    map[dirtyKey]func() // lists with late entries in the current batch

	watermark int64 // the newest event time of any host
	hostSweep int64 // watermark at the last sweep of hosts
	evicted   int64
	expired   int64
}

// New returns an empty index.
func New(maxEvents int, retentionNs int64) *Index {
	return &Index{
		maxEvents:  maxEvents,
		retention:  retentionNs,
		tuples:     map[Tuple]List{},
		peers:      map[addrKey]List{},
		pids:       map[hostPID]List{},
		containers: map[string]List{},
		cgroups:    map[string]List{},
		pods:       map[string]List{},
		nodes:      map[string]List{},
		devices:    map[devKey]List{},
		iowaits:    map[string]List{},
		hosts:      map[string]hostState{},
	}
}

// SetMaxBytes bounds the memory of the indexed events (kevent.Bytes):
// over it the oldest are evicted, as over MaxEvents. 0 removes the bound.
func (x *Index) SetMaxBytes(n int64) { x.maxBytes = n }

// Bytes is the estimated memory of the indexed events.
func (x *Index) Bytes() int64 { return x.bytes }

// Hosts is the number of sending nodes the index keeps a watermark for;
// at most MaxEvents.
func (x *Index) Hosts() int { return len(x.hosts) }

// Len is the number of indexed events.
func (x *Index) Len() int { return len(x.fifo) - x.head }

// Watermark is the newest event time ingested (unix ns), 0 before any.
func (x *Index) Watermark() int64 { return x.watermark }

// WatermarkOf is the newest event time of host, or the index's watermark
// when host has sent nothing within the retention (a node without a
// kernel agent has no watermark of its own).
func (x *Index) WatermarkOf(host string) int64 {
	if st, ok := x.hosts[host]; ok {
		return st.watermark
	}
	return x.watermark
}

// IntervalOf is the interval of host's latest round of records summing
// one (cgroup throttling), 0 when none arrived within the retention: such
// records are stamped at the interval's end, up to this long after the
// spans they explain.
func (x *Index) IntervalOf(host string) int64 {
	var iv int64
	for _, r := range x.hosts[host].rounds {
		if r.at >= x.watermark-x.retention {
			iv = max(iv, r.interval)
		}
	}
	return iv
}

// Evicted counts events removed because of MaxEvents.
func (x *Index) Evicted() int64 { return x.evicted }

// Expired counts events removed because they aged out of Retention.
func (x *Index) Expired() int64 { return x.expired }

// Covers reports whether kernel events of host have been seen within the
// retention: only then does an empty window mean "no kernel evidence" rather
// than "nobody was looking".
func (x *Index) Covers(host string) bool {
	st, ok := x.hosts[host]
	return ok && st.watermark >= x.watermark-x.retention
}

// Observe moves the watermark and host's coverage to t for a record that
// is not indexed (a connection's establishment, kept by the connection
// table): it still says the node's kernel events are flowing.
func (x *Index) Observe(host string, t int64) {
	if t > x.watermark {
		x.watermark = t
	}
	st, ok := x.hosts[host]
	if !ok && len(x.hosts) >= x.maxEvents {
		// A flood of host names (one per record) must not grow the map
		// without bound: forget silent nodes now; if none is, this node
		// goes without a watermark of its own (WatermarkOf falls back to
		// the index's). At most one sweep per second of event time, so a
		// flood costs no sweep per record.
		if x.watermark-x.hostSweep >= int64(time.Second) {
			x.sweepHosts()
		}
		if len(x.hosts) >= x.maxEvents {
			return
		}
	}
	if !ok || t > st.watermark {
		st.watermark = t
		x.hosts[host] = st
	}
}

// Add indexes e under every key it carries and returns how many events
// it evicted to stay under MaxEvents and the byte bound.
func (x *Index) Add(e *kevent.Event) (evicted int) {
	x.ingest(e)
	return x.trim()
}

// AddBatch indexes events (one logs batch) and returns how many it
// evicted. Late events (older than their key's newest) are merged once
// per key for the whole batch: the cost does not depend on arrival order.
func (x *Index) AddBatch(events []*kevent.Event) (evicted int) {
	if x.dirty == nil {
		x.dirty = map[dirtyKey]func(){}
	}
	x.batching = true
	for _, e := range events {
		x.ingest(e)
	}
	x.batching = false
	for k, settle := range x.dirty {
		settle()
		delete(x.dirty, k)
	}
	return x.trim()
}

func (x *Index) ingest(e *kevent.Event) {
	x.Observe(e.Host, e.Time)
	// A node the hosts bound left out keeps no rounds either.
	if st, ok := x.hosts[e.Host]; ok && e.Detail != nil && e.Detail.IntervalNs > 0 {
		d := e.Detail
		if st.rounds == nil {
			st.rounds = map[string]round{}
			x.hosts[e.Host] = st
		}
		r, ok := st.rounds[e.Name]
		switch iv := min(d.IntervalNs, x.retention); {
		case !ok && len(st.rounds) >= maxRounds:
		case e.Time > r.at: // a later round
			st.rounds[e.Name] = round{iv, e.Time}
		case e.Time == r.at: // the same round (one poll stamps all its records alike)
			st.rounds[e.Name] = round{max(r.interval, iv), r.at}
		}
	}
	x.each(e, true)
	x.fifo = append(x.fifo, e)
	x.bytes += e.Bytes()
}

// trim expires and evicts down to the bounds.
func (x *Index) trim() (evicted int) {
	// Expire first: an event that aged out of retention is not an eviction.
	x.expire()
	for x.Len() > x.maxEvents || (x.maxBytes > 0 && x.bytes > x.maxBytes && x.Len() > 0) {
		x.removeOldest()
		x.evicted++
		evicted++
	}
	return evicted
}

func (x *Index) expire() {
	limit := x.watermark - x.retention
	for x.Len() > 0 && x.fifo[x.head].Time < limit {
		x.removeOldest()
		x.expired++
	}
	// A gateway hears from many hosts: forget silent ones once per second
	// of event time, not on every event.
	if x.watermark-x.hostSweep >= int64(time.Second) {
		x.sweepHosts()
	}
}

// sweepHosts forgets the nodes silent for the retention.
func (x *Index) sweepHosts() {
	x.hostSweep = x.watermark
	limit := x.watermark - x.retention
	for h, st := range x.hosts {
		if st.watermark < limit {
			delete(x.hosts, h)
		}
	}
}

func (x *Index) removeOldest() {
	e := x.fifo[x.head]
	x.fifo[x.head] = nil
	x.head++
	x.bytes -= e.Bytes()
	// Compact once the dead prefix dominates, so the slice does not grow forever.
	if x.head > 1024 && x.head*2 > len(x.fifo) {
		n := copy(x.fifo, x.fifo[x.head:])
		clear(x.fifo[n:])
		x.fifo = x.fifo[:n]
		x.head = 0
	}
	x.each(e, false)
}

func insert[K comparable](x *Index, id int, m map[K]List, key K, e *kevent.Event) {
	l := m[key]
	en := entry{e.Time, e}
	// Events arrive nearly in time order: appending is the common case.
	if n := len(l); n == 0 || l[n-1].time <= e.Time {
		m[key] = append(l, en)
		return
	}
	if x.batching {
		// A late one in a batch: appended now, the key's tail sorted and
		// merged once at the batch's end (settle), so a batch of k late
		// events costs O(n + k log k), not k shifts of the list.
		dk := dirtyKey{id, key}
		if _, ok := x.dirty[dk]; !ok {
			n := len(l)
			x.dirty[dk] = func() { settle(m, key, n) }
		}
		m[key] = append(l, en)
		return
	}
	i := searchTime(l, e.Time+1)
	l = append(l, entry{})
	copy(l[i+1:], l[i:])
	l[i] = en
	m[key] = l
}

// dirtyKey names a list with late entries in the current batch: which
// map (its id) and which key.
type dirtyKey struct {
	m int
	k any
}

// settle sorts the part of key's list appended since it had n sorted
// entries and merges it into them (stable: the earlier-indexed of equal
// times first, as a single insert places them).
func settle[K comparable](m map[K]List, key K, n int) {
	l := m[key]
	tail := slices.Clone(l[n:])
	slices.SortStableFunc(tail, func(a, b entry) int { return cmp.Compare(a.time, b.time) })
	i, j := n-1, len(tail)-1
	for w := len(l) - 1; j >= 0; w-- {
		if i >= 0 && l[i].time > tail[j].time {
			l[w] = l[i]
			i--
		} else {
			l[w] = tail[j]
			j--
		}
	}
}

func remove[K comparable](m map[K]List, key K, e *kevent.Event) {
	l := m[key]
	i := searchTime(l, e.Time)
	for ; i < len(l) && l[i].e != e; i++ {
	}
	switch {
	case i == len(l):
		return
	case len(l) == 1:
		delete(m, key)
	case i == 0:
		l[0] = entry{}
		m[key] = l[1:]
	default:
		copy(l[i:], l[i+1:])
		l[len(l)-1] = entry{}
		m[key] = l[:len(l)-1]
	}
}

// each adds (add) or removes e under every key it carries.
func (x *Index) each(e *kevent.Event, add bool) {
	if e.HasTuple() {
		if add {
			insert(x, 0, x.tuples, Conn(e.Local, e.Peer), e)
		} else {
			remove(x.tuples, Conn(e.Local, e.Peer), e)
		}
	}
	if e.Peer.IsValid() {
		if add {
			insert(x, 1, x.peers, keyOf(e.Peer), e)
		} else {
			remove(x.peers, keyOf(e.Peer), e)
		}
	}
	if e.PID > 0 {
		if add {
			insert(x, 2, x.pids, hostPID{e.Host, e.PID}, e)
		} else {
			remove(x.pids, hostPID{e.Host, e.PID}, e)
		}
	}
	for _, sk := range [...]struct {
		m   map[string]List
		key string
		id  int
	}{{x.containers, e.ContainerID, 3}, {x.cgroups, e.CgroupPath, 4}, {x.pods, e.PodUID, 5}} {
		if sk.key == "" {
			continue
		}
		if add {
			insert(x, sk.id, sk.m, sk.key, e)
		} else {
			remove(sk.m, sk.key, e)
		}
	}
	if e.Name == contract.EventBlockIO {
		if dev := blockDevice(e); dev != "" {
			if add {
				insert(x, 7, x.devices, devKey{e.Host, dev}, e)
			} else {
				remove(x.devices, devKey{e.Host, dev}, e)
			}
		}
	}
	if ioWait(e) {
		if add {
			insert(x, 8, x.iowaits, e.Host, e)
		} else {
			remove(x.iowaits, e.Host, e)
		}
	}
	if nodeWide(e) {
		if add {
			insert(x, 6, x.nodes, e.Host, e)
		} else {
			remove(x.nodes, e.Host, e)
		}
	}
}

// nodeWide reports an event with neither socket nor process that concerns
// the node: a kernel log line only when it names a device or node-level
// subsystem (any user controls some kernel lines; see the receiver's
// kmsgtrust.go).
func nodeWide(e *kevent.Event) bool {
	if e.Local.IsValid() || e.Peer.IsValid() || e.HasProcess() {
		return false
	}
	return e.Name != contract.EventKernelLog || (e.Detail != nil && e.Detail.LogDevice != "")
}

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

// ByConn is the window of the connection between x and y, as seen from
// either end (the events' Local tells which).
func (x *Index) ByConn(a, b netip.AddrPort, from, to int64) Entries {
	return window(x.tuples[Conn(a, b)], from, to)
}

// ByPeer is the window of the events whose socket's peer is peer.
func (x *Index) ByPeer(peer netip.AddrPort, from, to int64) Entries {
	return window(x.peers[keyOf(peer)], from, to)
}

// ByPID is the window of process pid on host.
func (x *Index) ByPID(host string, pid int64, from, to int64) Entries {
	return window(x.pids[hostPID{host, pid}], from, to)
}

// ByContainer is the window of a container.
func (x *Index) ByContainer(id string, from, to int64) Entries {
	return window(x.containers[id], from, to)
}

// ByCgroup is the window of a cgroup path.
func (x *Index) ByCgroup(path string, from, to int64) Entries {
	return window(x.cgroups[path], from, to)
}

// ByPod is the window of a pod.
func (x *Index) ByPod(uid string, from, to int64) Entries {
	return window(x.pods[uid], from, to)
}

// ByNode is the window of the node-wide events of host.
func (x *Index) ByNode(host string, from, to int64) Entries {
	return window(x.nodes[host], from, to)
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
// family and positional writes: see ioWait), whoever made them.
func (x *Index) IOWaits(host string, from, to int64) Entries {
	return window(x.iowaits[host], from, to)
}

// ioWait mirrors classify.IOSyscall (index cannot import classify).
func ioWait(e *kevent.Event) bool {
	if e.Name != contract.EventSyscallSlow || e.Detail == nil || e.Detail.SyscallPhase == "entry" {
		return false
	}
	switch e.Detail.SyscallName {
	case "fsync", "fdatasync", "sync_file_range", "syncfs", "sync", "msync", "pwrite64", "pwritev", "pwritev2":
		return true
	}
	return false
}

// VirtioDisk is the virtio disk (vd*) of host with a block IO, directly or
// through a loop device on it, of at least minLatency overlapping
// [from, to]; "" when there is none. reach is how long after to a
// request that overlaps the window may complete.
func (x *Index) VirtioDisk(host string, from, to, reach int64, minLatency int64) string {
	best, bestN := "", int64(0)
	for k, l := range x.devices {
		if k.host != host || !strings.HasPrefix(k.dev, "vd") {
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
