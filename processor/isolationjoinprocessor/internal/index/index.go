// Package index keeps kernel events by key and time for the join. Every key
// maps to its own time-ordered List, so a lookup costs a map access plus a
// binary search in that key's List, never a scan of the whole index: the
// cost per span stays flat however many events are indexed.
//
// The index is not safe for concurrent use; the processor guards it.
package index

import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"

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

// Evicted counts events removed because of MaxEvents.
func (x *Index) Evicted() int64 { return x.evicted }
