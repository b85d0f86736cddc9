package conntable

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func aliveOf(s *socks, from, to int64) []int64 {
	var out []int64
	for c := range s.alive(from, to, nil) {
		out = append(out, c.PID)
	}
	return out
}

// TestSocksAliveAcrossCloseOrder: the sockets of one key alive during a
// window are the same whatever order their closes arrived in, and
// removing any of them (the head, the middle, an open one) keeps the
// others findable.
func TestSocksAliveAcrossCloseOrder(t *testing.T) {
	var s socks
	conns := map[int64]*Conn{}
	for pid, span := range map[int64][2]int64{
		1: {0, 0}, // open since before the table knew it
		2: {1 * sec, 3 * sec},
		3: {2 * sec, 9 * sec},
		4: {4 * sec, 5 * sec},
		5: {6 * sec, 0},       // still open
		6: {8 * sec, 8 * sec}, // opened and closed at once
	} {
		c := &Conn{PID: pid, Opened: span[0]}
		conns[pid] = c
		s.add(c)
	}
	// Closes arrive out of order: 3 (9s) before 4 (5s) and 2 (3s).
	for _, pid := range []int64{3, 6, 4, 2} {
		conns[pid].Closed = map[int64]int64{2: 3 * sec, 3: 9 * sec, 4: 5 * sec, 6: 8 * sec}[pid]
		s.markClosed(conns[pid])
	}
	assert.ElementsMatch(t, []int64{1, 2, 3}, aliveOf(&s, 2*sec, 3*sec))
	assert.ElementsMatch(t, []int64{1, 3, 4}, aliveOf(&s, 4*sec, 5*sec))
	assert.ElementsMatch(t, []int64{1, 3, 5, 6}, aliveOf(&s, 6*sec, 8*sec))
	assert.ElementsMatch(t, []int64{1, 5}, aliveOf(&s, 10*sec, 11*sec))
	assert.Equal(t, 2, s.countAlive(10*sec, 11*sec, nil))

	// The first to close leaves first (retention), then one in the middle
	// and an open one.
	for _, pid := range []int64{2, 4, 5} {
		assert.False(t, s.remove(conns[pid]))
	}
	assert.ElementsMatch(t, []int64{1, 3, 6}, aliveOf(&s, 0, 20*sec))
	for _, pid := range []int64{1, 3} {
		assert.False(t, s.remove(conns[pid]))
	}
	assert.True(t, s.remove(conns[6]), "the last one leaves the key empty")
	assert.Empty(t, aliveOf(&s, 0, 20*sec))
}
