// Ingest: adding events under their keys, late merges, expiry and eviction.
package index

import (
	"cmp"
	"slices"
	"time"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

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
	if e.DiskWait() {
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
