package index

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

var (
	local = netip.MustParseAddrPort("198.18.64.1:40000")
	peer  = netip.MustParseAddrPort("198.18.64.2:8080")
)

func times(x *Index, from, to int64) []int64 {
	var out []int64
	w := x.ConnList(Conn(local, peer)).Window(from, to)
	for i := 0; i < w.Len(); i++ {
		out = append(out, w.At(i).Time)
	}
	return out
}

func TestWindowIsTimeOrderedAndInclusive(t *testing.T) {
	x := New(100, 1e9)
	for _, ts := range []int64{10, 30, 20, 40, 5} { // late arrivals included
		x.Add(&kevent.Event{Time: ts, Local: local, Peer: peer})
	}
	assert.Equal(t, []int64{10, 20, 30}, times(x, 10, 30))
	assert.Equal(t, []int64{5, 10, 20, 30, 40}, times(x, 0, 100))
	assert.Empty(t, times(x, 41, 100))
	assert.Equal(t, int64(40), x.Watermark())
}

func TestConnFromBothEnds(t *testing.T) {
	x := New(100, 1e9)
	x.Add(&kevent.Event{Time: 1, Local: local, Peer: peer})
	x.Add(&kevent.Event{Time: 2, Local: peer, Peer: local})
	x.Add(&kevent.Event{Time: 3, Local: local, Peer: netip.MustParseAddrPort("198.18.64.3:8080")})
	assert.Equal(t, 2, x.ConnList(Conn(local, peer)).Window(0, 10).Len())
	assert.Equal(t, 2, x.ConnList(Conn(peer, local)).Window(0, 10).Len())
	assert.Equal(t, Conn(local, peer), Conn(peer, local))
}

func TestKeys(t *testing.T) {
	x := New(100, 1e9)
	x.Add(&kevent.Event{Time: 1, Host: "n1", Local: local, Peer: peer, PID: 7, ContainerID: "c", CgroupPath: "/p", PodUID: "u"})
	x.Add(&kevent.Event{Time: 2, Host: "n1"}) // node-wide
	assert.Equal(t, 1, x.ByPeer(peer, 0, 10).Len())
	assert.Equal(t, 0, x.ByPeer(local, 0, 10).Len(), "peer index is by the event's peer")
	assert.Equal(t, 1, window(x.PIDList("n1", 7), 0, 10).Len())
	assert.Equal(t, 0, window(x.PIDList("n2", 7), 0, 10).Len(), "pids are per node")
	assert.Equal(t, 1, window(x.ContainerList("c"), 0, 10).Len())
	assert.Equal(t, 1, window(x.CgroupList("/p"), 0, 10).Len())
	assert.Equal(t, 1, window(x.PodList("u"), 0, 10).Len())
	assert.Equal(t, 1, window(x.NodeList("n1"), 0, 10).Len(), "only the event without socket or process is node-wide")
	assert.True(t, x.Covers("n1"))
	assert.False(t, x.Covers("n2"))
}

func TestCapEvictsOldestAndCounts(t *testing.T) {
	x := New(3, 1e12)
	evicted := 0
	for ts := int64(1); ts <= 5; ts++ {
		evicted += x.Add(&kevent.Event{Time: ts, Local: local, Peer: peer, PID: 1})
	}
	assert.Equal(t, 2, evicted)
	assert.Equal(t, int64(2), x.Evicted())
	assert.Equal(t, 3, x.Len())
	assert.Equal(t, []int64{3, 4, 5}, times(x, 0, 10))
	assert.Equal(t, 3, window(x.PIDList("", 1), 0, 10).Len(), "evicted from every key")
}

func TestRetentionExpiresAndEmptiesKeys(t *testing.T) {
	x := New(100, 10)
	x.Add(&kevent.Event{Time: 1, Local: local, Peer: peer})
	x.Add(&kevent.Event{Time: 5, PID: 9})
	x.Add(&kevent.Event{Time: 20}) // watermark 20: everything before 10 expires
	assert.Equal(t, 1, x.Len())
	assert.Equal(t, int64(2), x.expired)
	assert.Zero(t, x.Evicted(), "expiry is not eviction")
	assert.Empty(t, x.tuples)
	assert.Empty(t, x.pids)
}

func TestManyEventsCompact(t *testing.T) {
	x := New(1000, 1e18)
	for ts := int64(0); ts < 100_000; ts++ {
		x.Add(&kevent.Event{Time: ts, Local: local, Peer: peer})
	}
	require.Equal(t, 1000, x.Len())
	assert.Less(t, len(x.fifo), 4000, "the dead prefix is compacted")
	assert.Len(t, times(x, 0, 1e9), 1000)
}
