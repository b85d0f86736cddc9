package conntable

import (
	"cmp"
	"iter"
	"slices"
)

// socks is the sockets under one key of the table: the open ones, and the
// closed ones in the order they closed. A listener's endpoint collects
// every socket it accepted within the retention — on a server that takes
// short connections, thousands, nearly all closed — and a process that
// does not pool its connections collects as many under its pid. Kept
// apart and ordered by close time, the sockets alive during a span's
// window are found without walking those that closed before it.
type socks struct {
	open   []*Conn
	closed []*Conn // ascending Closed
}

func (s *socks) add(c *Conn) {
	if c.Closed == 0 {
		s.open = append(s.open, c)
		return
	}
	// Close records arrive nearly in close order: the place is at or
	// near the end.
	i := len(s.closed)
	for i > 0 && s.closed[i-1].Closed > c.Closed {
		i--
	}
	s.closed = slices.Insert(s.closed, i, c)
}

// markClosed moves c, whose Closed was just set, from the open sockets to
// the closed ones; nothing when c is not under this key.
func (s *socks) markClosed(c *Conn) {
	if i := slices.Index(s.open, c); i >= 0 {
		s.open = slices.Delete(s.open, i, i+1)
		s.add(c)
	}
}

// remove takes c out and reports whether the key holds no socket anymore.
func (s *socks) remove(c *Conn) (empty bool) {
	if c.Closed == 0 {
		if i := slices.Index(s.open, c); i >= 0 {
			s.open = slices.Delete(s.open, i, i+1)
		}
		return s.len() == 0
	}
	// Closed sockets leave in close order (the retention, then the
	// bound): c is nearly always the first.
	i, _ := slices.BinarySearchFunc(s.closed, c.Closed, func(x *Conn, t int64) int { return cmp.Compare(x.Closed, t) })
	for ; i < len(s.closed) && s.closed[i].Closed == c.Closed; i++ {
		if s.closed[i] != c {
			continue
		}
		if i == 0 {
			// Resliced, not shifted: append reallocates past the
			// dropped head when the capacity runs out.
			s.closed[0] = nil
			s.closed = s.closed[1:]
		} else {
			s.closed = slices.Delete(s.closed, i, i+1)
		}
		break
	}
	return s.len() == 0
}

func (s *socks) len() int { return len(s.open) + len(s.closed) }

// alive yields the sockets open at some time in [from, to]: the open ones
// opened by to, then the closed ones that closed at from or later and
// opened by to. When steady is not nil, a socket yielded that was not open
// throughout [from, to] clears it (Table.Steadily). The open and the
// closed sockets are walked by two loops of the same body: one loop over
// both lists (the closed ones searched first) made a server span's
// lookups 60% slower (BenchmarkLookupsBusyListener).
func (s *socks) alive(from, to int64, steady *bool) iter.Seq[*Conn] {
	return func(yield func(*Conn) bool) {
		for _, c := range s.open {
			if c.Opened <= to {
				if steady != nil && !c.openThroughout(from, to) {
					*steady = false
				}
				if !yield(c) {
					return
				}
			}
		}
		i, _ := slices.BinarySearchFunc(s.closed, from, func(x *Conn, t int64) int { return cmp.Compare(x.Closed, t) })
		for _, c := range s.closed[i:] {
			if c.Opened <= to {
				if steady != nil && !c.openThroughout(from, to) {
					*steady = false
				}
				if !yield(c) {
					return
				}
			}
		}
	}
}

// all yields every socket: the open ones in the order they were added,
// then the closed ones in close order.
func (s *socks) all() iter.Seq[*Conn] {
	return func(yield func(*Conn) bool) {
		for _, l := range [...][]*Conn{s.open, s.closed} {
			for _, c := range l {
				if !yield(c) {
					return
				}
			}
		}
	}
}

// countAlive counts, up to 2, the sockets alive during [from, to].
func (s *socks) countAlive(from, to int64, steady *bool) int {
	n := 0
	for range s.alive(from, to, steady) {
		if n++; n == 2 {
			break
		}
	}
	return n
}

// sockIndex is one of the table's maps from a key to its sockets. The
// sockets are held in the map's slots, not behind a pointer: most keys
// (a client's ephemeral endpoint) hold one socket, and a pointer per key
// per map would cost the table a third more memory.
type sockIndex[K comparable] map[K]socks

// sockOp is what Table.keyed does to a socket under each of its keys.
type sockOp uint8

const (
	opAdd    sockOp = iota // a new socket
	opClose                // its Closed was just set
	opRemove               // it leaves the table
)

func (m sockIndex[K]) apply(op sockOp, k K, c *Conn) {
	s, ok := m[k]
	switch op {
	case opAdd:
		s.add(c)
	case opClose:
		if !ok {
			return
		}
		s.markClosed(c)
	case opRemove:
		if !ok {
			return
		}
		if s.remove(c) {
			delete(m, k)
			return
		}
	}
	m[k] = s
}

// of is the sockets under k (empty when none).
func (m sockIndex[K]) of(k K) *socks {
	s := m[k]
	return &s
}
