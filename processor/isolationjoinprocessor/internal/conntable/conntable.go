// Package conntable keeps the TCP connections of the node(s) the kernel
// events come from: which process (pid, netns, cgroup, container) owned
// which 5-tuple from when to when (docs/design.md §4, connection table). It is built
// from kernel.tcp.established records (connect, accept, or found open by
// the receiver's snapshot at start), kernel.tcp.connection records (the
// close) and the owner fields of other socket records.
//
// Open connections stay until their close arrives, whatever their age (a
// keep-alive pool lives for hours); closed ones stay for the retention, so
// late spans still find them. The table is bounded by a count: over it,
// the connection closed longest ago goes first, then the oldest open one.
//
// The table is not safe for concurrent use; the processor guards it.
package conntable

import (
	"net/netip"
)

// Conn is one socket: one end of a TCP connection, as its owner sees it.
type Conn struct {
	Host        string
	Local, Peer netip.AddrPort // normalized
	Netns       int64          // 0 when unknown

	PID         int64
	ContainerID string
	CgroupPath  string
	PodUID      string
	Exe         string

	// Connect is true for a socket that called connect() (the
	// established record's side), false when accepted or unknown.
	Connect bool

	// Opened is when the socket reached ESTABLISHED (unix ns); 0 when
	// unknown (found open at start, or first seen on another record).
	Opened int64
	// Closed is when it closed; 0 while open.
	Closed int64

	seq     uint64 // insertion order, for eviction
	removed bool
}

// AliveDuring reports whether c was open at some time in [from, to].
func (c *Conn) AliveDuring(from, to int64) bool {
	return c.Opened <= to && (c.Closed == 0 || c.Closed >= from)
}

// openThroughout reports whether c was open during all of [from, to] (an
// unknown open time is before it).
func (c *Conn) openThroughout(from, to int64) bool {
	return c.Opened <= from && (c.Closed == 0 || c.Closed >= to)
}

// Owner is the process that owns c, as OfOwner takes it.
func (c *Conn) Owner() Owner {
	return Owner{Host: c.Host, PID: c.PID, ContainerID: c.ContainerID, PodUID: c.PodUID}
}

// HasOwner reports whether c names the process that owns it.
func (c *Conn) HasOwner() bool { return c.PID > 0 || c.ContainerID != "" || c.PodUID != "" }

type endpoint struct {
	host string
	ep   netip.AddrPort
}

type hostAddr struct {
	host string
	addr netip.Addr
}

type hostPID struct {
	host string
	pid  int64
}

// Table is the connection table.
type Table struct {
	maxConns  int
	retention int64

	byLocal sockIndex[endpoint]
	byPeer  sockIndex[endpoint]
	byPeerA sockIndex[hostAddr] // by peer address alone (OTLP/HTTP gives no port)
	byPID   sockIndex[hostPID]
	byCtr   sockIndex[string]
	byPod   sockIndex[string]

	open   queue // open connections, oldest first
	closed queue // closed connections, in close order
	n      int
	seq    uint64

	watermark int64
	evicted   int64

	// steady, while Steadily runs, is cleared by the first socket a
	// lookup finds open during only part of its window.
	steady *bool

	// strs shares the owner strings (cgroup path, container id…) of the
	// connections of one process: each record carries its own copy.
	strs map[string]string
}

// internLimit bounds strs: when full it starts over (strings already
// shared stay shared).
const internLimit = 1 << 14

func (t *Table) intern(s string) string {
	if s == "" {
		return s
	}
	if x, ok := t.strs[s]; ok {
		return x
	}
	if len(t.strs) >= internLimit {
		clear(t.strs)
	}
	t.strs[s] = s
	return s
}

// New returns an empty table holding at most maxConns connections; closed
// ones are forgotten retentionNs after their close.
func New(maxConns int, retentionNs int64) *Table {
	return &Table{
		maxConns:  maxConns,
		retention: retentionNs,
		byLocal:   sockIndex[endpoint]{},
		byPeer:    sockIndex[endpoint]{},
		byPeerA:   sockIndex[hostAddr]{},
		byPID:     sockIndex[hostPID]{},
		byCtr:     sockIndex[string]{},
		byPod:     sockIndex[string]{},
		open:      queue{open: true},
		strs:      map[string]string{},
	}
}

// Len is the number of connections held.
func (t *Table) Len() int { return t.n }

// Evicted counts connections removed because of the count bound.
func (t *Table) Evicted() int64 { return t.evicted }

// Open records a socket that reached ESTABLISHED at c.Opened (0 when only
// known to be open: the snapshot at start). A socket already held with the
// same ends in the same namespace is updated instead (the snapshot and an
// established record may both report one). It returns how many
// connections the bound evicted.
func (t *Table) Open(c Conn, at int64) int {
	t.advance(at)
	if old := t.find(c.Host, c.Local, c.Peer, c.Netns, at); old != nil {
		if old.Closed == 0 {
			fillOwner(old, &c)
			if c.Opened != 0 && (old.Opened == 0 || c.Opened < old.Opened) {
				old.Opened = c.Opened
			}
			return t.expire()
		}
		// A closed socket's ends reused by a new connection: a new entry.
	}
	t.insert(c)
	return t.expire()
}

// Close records the close of a socket at closed; lifetimeNs (0 when
// unknown) dates its open when the table never saw it. owner carries the
// record's owner fields.
func (t *Table) Close(owner Conn, closed, lifetimeNs int64) int {
	t.advance(closed)
	c := t.find(owner.Host, owner.Local, owner.Peer, owner.Netns, closed)
	if c == nil || c.Closed != 0 {
		owner.Opened = 0
		if lifetimeNs > 0 && lifetimeNs < closed {
			owner.Opened = closed - lifetimeNs
		}
		c = t.insert(owner)
	} else {
		fillOwner(c, &owner)
	}
	c.Closed = closed
	t.keyed(opClose, c)
	t.closed.push(c)
	return t.expire()
}

// keyed applies op to c under each of its keys: its ends, its peer's
// address, and the owner it had when inserted.
func (t *Table) keyed(op sockOp, c *Conn) {
	t.byLocal.apply(op, endpoint{c.Host, c.Local}, c)
	t.byPeer.apply(op, endpoint{c.Host, c.Peer}, c)
	t.byPeerA.apply(op, hostAddr{c.Host, c.Peer.Addr()}, c)
	if c.PID > 0 {
		t.byPID.apply(op, hostPID{c.Host, c.PID}, c)
	}
	if c.ContainerID != "" {
		t.byCtr.apply(op, c.ContainerID, c)
	}
	if c.PodUID != "" {
		t.byPod.apply(op, c.PodUID, c)
	}
}

// Seen records that a socket with an owner was open at at (a retransmit,
// reset or drop record of it): the owner of a connection the table never
// saw established (opened before the receiver started and missed by its
// snapshot) is still learned.
func (t *Table) Seen(c Conn, at int64) int {
	t.advance(at)
	if !c.HasOwner() {
		return 0
	}
	if old := t.find(c.Host, c.Local, c.Peer, c.Netns, at); old != nil {
		if !old.HasOwner() {
			fillOwner(old, &c)
		}
		return 0
	}
	c.Opened = 0
	t.insert(c)
	return t.expire()
}

func fillOwner(dst, src *Conn) {
	if dst.PID == 0 && src.PID > 0 {
		dst.PID = src.PID
	}
	if dst.ContainerID == "" {
		dst.ContainerID = src.ContainerID
	}
	if dst.CgroupPath == "" {
		dst.CgroupPath = src.CgroupPath
	}
	if dst.PodUID == "" {
		dst.PodUID = src.PodUID
	}
	if dst.Exe == "" {
		dst.Exe = src.Exe
	}
	if dst.Netns == 0 {
		dst.Netns = src.Netns
	}
	dst.Connect = dst.Connect || src.Connect
}

// advance moves the table's clock (the newest record time seen).
func (t *Table) advance(at int64) {
	if at > t.watermark {
		t.watermark = at
	}
}

// find is the socket held with these ends (and namespace, when both sides
// know it) that was open at at, else the newest one with these ends. It
// walks the shorter of the two lists the socket is in: a listener's
// endpoint is the local end of every socket it accepted and the peer of
// every client on this node that connected to it.
func (t *Table) find(host string, local, peer netip.AddrPort, netns, at int64) *Conn {
	byLocal, byPeer := t.byLocal.of(endpoint{host, local}), t.byPeer.of(endpoint{host, peer})
	l := byLocal
	if byPeer.len() < byLocal.len() {
		l = byPeer
	}
	var best *Conn
	for c := range l.all() {
		if c.Local != local || c.Peer != peer || (netns != 0 && c.Netns != 0 && netns != c.Netns) {
			continue
		}
		if c.Closed == 0 || c.Closed >= at {
			if best == nil || best.Closed != 0 {
				best = c
			}
			continue
		}
		if best == nil {
			best = c
		}
	}
	return best
}

func (t *Table) insert(c Conn) *Conn {
	t.seq++
	nc := new(Conn)
	*nc = c
	nc.seq = t.seq
	nc.removed = false
	nc.Host, nc.Exe = t.intern(nc.Host), t.intern(nc.Exe)
	nc.CgroupPath, nc.ContainerID, nc.PodUID = t.intern(nc.CgroupPath), t.intern(nc.ContainerID), t.intern(nc.PodUID)
	t.keyed(opAdd, nc)
	t.open.push(nc)
	t.n++
	// Closed and removed entries behind a long-lived head would pile up.
	if len(t.open.items)-t.open.head > 2*t.n+1024 {
		t.open.filter()
		t.closed.filter()
	}
	return nc
}

// expire forgets closed connections older than the retention, then evicts
// down to the bound: closed ones first, then the oldest open one.
func (t *Table) expire() (evicted int) {
	limit := t.watermark - t.retention
	for {
		c := t.closed.peek()
		if c == nil || c.Closed >= limit {
			break
		}
		t.closed.pop()
		t.remove(c)
	}
	for t.n > t.maxConns {
		c := t.closed.pop()
		if c == nil {
			c = t.open.pop()
		}
		if c == nil {
			break
		}
		t.remove(c)
		t.evicted++
		evicted++
	}
	return evicted
}

func (t *Table) remove(c *Conn) {
	if c.removed {
		return
	}
	c.removed = true
	t.n--
	t.keyed(opRemove, c)
}

// queue is a FIFO of connections with lazy deletion: entries removed from
// the table (or closed, in the open queue) are skipped when they reach
// the head.
type queue struct {
	items []*Conn
	head  int
	open  bool // skip closed entries (the open queue)
}

func (q *queue) push(c *Conn) { q.items = append(q.items, c) }

func (q *queue) skip() {
	for q.head < len(q.items) {
		c := q.items[q.head]
		if !c.removed && (c.Closed == 0 || !q.open) {
			return
		}
		q.items[q.head] = nil
		q.head++
	}
	q.compact()
}

func (q *queue) peek() *Conn {
	q.skip()
	if q.head == len(q.items) {
		return nil
	}
	return q.items[q.head]
}

func (q *queue) pop() *Conn {
	c := q.peek()
	if c != nil {
		q.items[q.head] = nil
		q.head++
		q.compact()
	}
	return c
}

// filter drops every entry skip would drop, wherever it is.
func (q *queue) filter() {
	kept := q.items[:0]
	for _, c := range q.items[q.head:] {
		if c != nil && !c.removed && (c.Closed == 0 || !q.open) {
			kept = append(kept, c)
		}
	}
	clear(q.items[len(kept):])
	q.items, q.head = kept, 0
}

func (q *queue) compact() {
	if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
}
