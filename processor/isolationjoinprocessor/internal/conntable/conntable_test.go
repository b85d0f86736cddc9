package conntable

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sec = int64(1e9)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func sock(local, peer string, pid int64) Conn {
	return Conn{Host: "n1", Local: ap(local), Peer: ap(peer), PID: pid}
}

func TestOpenCloseAndWindows(t *testing.T) {
	tb := New(100, 30*sec)
	c := sock("10.0.0.2:40000", "10.0.0.3:80", 7)
	c.Opened = 10 * sec
	tb.Open(c, 10*sec)
	require.Equal(t, 1, tb.Len())

	// Open at 10s, alive from then on.
	assert.Empty(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 0, 1*sec, 9*sec))
	got := tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, ap("10.0.0.3:80").Addr(), 0, 11*sec, 12*sec)
	require.Len(t, got, 1)
	assert.Equal(t, int64(7), got[0].PID)
	assert.Len(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 80, 11*sec, 12*sec), 1, "by remote port")
	assert.Empty(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 443, 11*sec, 12*sec))
	assert.Empty(t, tb.OfOwner(nil, Owner{Host: "n2", PID: 7}, netip.Addr{}, 0, 11*sec, 12*sec), "another node's pid 7")

	// Open connections are not subject to the retention.
	tb.Open(sock("10.0.0.9:1", "10.0.0.8:2", 9), 500*sec)
	assert.Len(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 0, 499*sec, 500*sec), 1)

	// The close ends it; a window after the close misses it.
	tb.Close(sock("10.0.0.2:40000", "10.0.0.3:80", 0), 501*sec, 491*sec)
	assert.Empty(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 0, 502*sec, 503*sec))
	assert.Len(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 0, 500*sec, 502*sec), 1)
	// Closed ones leave after the retention.
	tb.Open(sock("10.0.0.9:3", "10.0.0.8:2", 9), 532*sec)
	assert.Empty(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 0, 500*sec, 502*sec))
	assert.Equal(t, 2, tb.Len())
	assert.Zero(t, tb.Evicted())
}

func TestCloseWithoutOpenDatesItByLifetime(t *testing.T) {
	tb := New(100, 30*sec)
	tb.Close(sock("10.0.0.2:40000", "10.0.0.3:80", 7), 100*sec, 60*sec)
	assert.Len(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 0, 41*sec, 42*sec), 1)
	assert.Empty(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 0, 30*sec, 39*sec))
}

func TestSnapshotThenEstablishedIsOneSocket(t *testing.T) {
	tb := New(100, 30*sec)
	// Found open at start (no open time), then a record of the same socket.
	tb.Open(sock("10.0.0.2:40000", "10.0.0.3:80", 7), 5*sec)
	tb.Open(sock("10.0.0.2:40000", "10.0.0.3:80", 7), 6*sec)
	assert.Equal(t, 1, tb.Len())
	assert.Len(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 7}, netip.Addr{}, 0, 1, 2), 1, "an existing socket was open before the snapshot")
	// Seen on a retransmit: known, nothing added.
	tb.Seen(sock("10.0.0.2:40000", "10.0.0.3:80", 7), 7*sec)
	assert.Equal(t, 1, tb.Len())
	// A socket first seen on a retransmit is learned with its owner.
	tb.Seen(sock("10.0.0.2:40001", "10.0.0.3:80", 8), 7*sec)
	assert.Len(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 8}, netip.Addr{}, 80, 1, 2), 1)
}

func TestBoundEvictsClosedFirst(t *testing.T) {
	tb := New(3, 300*sec)
	tb.Open(sock("10.0.0.2:1", "10.0.0.3:80", 1), 1*sec)
	tb.Open(sock("10.0.0.2:2", "10.0.0.3:80", 1), 2*sec)
	tb.Open(sock("10.0.0.2:3", "10.0.0.3:80", 1), 3*sec)
	tb.Close(sock("10.0.0.2:2", "10.0.0.3:80", 1), 4*sec, 0)
	assert.Equal(t, 1, tb.Open(sock("10.0.0.2:4", "10.0.0.3:80", 1), 5*sec))
	got := tb.OfOwner(nil, Owner{Host: "n1", PID: 1}, netip.Addr{}, 0, 1, 10*sec)
	var ports []uint16
	for _, c := range got {
		ports = append(ports, c.Local.Port())
	}
	assert.ElementsMatch(t, []uint16{1, 3, 4}, ports, "the closed socket went first")
	// Then the oldest open one.
	assert.Equal(t, 1, tb.Open(sock("10.0.0.2:5", "10.0.0.3:80", 1), 6*sec))
	ports = ports[:0]
	for _, c := range tb.OfOwner(nil, Owner{Host: "n1", PID: 1}, netip.Addr{}, 0, 1, 10*sec) {
		ports = append(ports, c.Local.Port())
	}
	assert.ElementsMatch(t, []uint16{3, 4, 5}, ports)
	assert.Equal(t, int64(2), tb.Evicted())
	assert.Equal(t, 3, tb.Len())
}

func TestOtherEndsDirectAndThroughDNAT(t *testing.T) {
	tb := New(100, 30*sec)
	// Direct: client 10.0.0.2:40000 → server 10.0.0.3:80, both here, plus
	// another client of the same listener.
	cli := sock("10.0.0.2:40000", "10.0.0.3:80", 1)
	srv := sock("10.0.0.3:80", "10.0.0.2:40000", 2)
	srv2 := sock("10.0.0.3:80", "10.0.0.2:40001", 2)
	cli2 := sock("10.0.0.2:40001", "10.0.0.3:80", 1)
	// DNAT: client 10.0.0.2:40002 → VIP 10.96.0.10:80, served by pod 10.0.1.5:8080.
	vcli := sock("10.0.0.2:40002", "10.96.0.10:80", 1)
	vsrv := sock("10.0.1.5:8080", "10.0.0.2:40002", 3)
	vsrv2 := sock("10.0.1.5:8080", "10.0.0.4:50000", 3) // another client of the pod, not here
	for _, c := range []Conn{cli, srv, srv2, cli2, vcli, vsrv, vsrv2} {
		tb.Open(c, sec)
	}
	ends := func(c Conn) []string {
		self := tb.ByLocal(nil, "n1", c.Local, 0, 2*sec)
		for _, s := range self {
			if s.Peer == c.Peer {
				var out []string
				others, _ := tb.OtherEnds(nil, s, 0, 2*sec)
				for _, o := range others {
					out = append(out, o.Local.String()+">"+o.Peer.String())
				}
				return out
			}
		}
		t.Fatalf("socket %v not held", c)
		return nil
	}
	assert.Equal(t, []string{"10.0.0.3:80>10.0.0.2:40000"}, ends(cli))
	assert.Equal(t, []string{"10.0.0.2:40000>10.0.0.3:80"}, ends(srv))
	assert.Equal(t, []string{"10.0.1.5:8080>10.0.0.2:40002"}, ends(vcli), "the client endpoint survives DNAT")
	assert.Equal(t, []string{"10.0.0.2:40002>10.96.0.10:80"}, ends(vsrv))
	assert.Empty(t, ends(vsrv2), "its client is on another node")

	// A server span's socket by its peer endpoint, and the OTLP/HTTP case.
	got := tb.ByPeer(nil, "n1", ap("10.0.0.2:40002"), 0, 0, 2*sec)
	require.Len(t, got, 1)
	assert.Equal(t, int64(3), got[0].PID)
	assert.Empty(t, tb.ByPeer(nil, "n1", ap("10.0.0.2:40002"), 9999, 0, 2*sec), "local port given and different")
	assert.Len(t, tb.ByPeerAddr(nil, "n1", ap("10.0.0.2:1").Addr(), 2, 0, 2*sec), 2)
	assert.Empty(t, tb.ByPeerAddr(nil, "n1", ap("10.0.0.2:1").Addr(), 99, 0, 2*sec))
}

func TestLongLivedHeadDoesNotPinClosedOnes(t *testing.T) {
	tb := New(1_000_000, 1)
	tb.Open(sock("10.0.0.1:1", "10.0.0.3:80", 1), 1)
	for i := range 20_000 {
		c := sock("10.0.0.2:2", "10.0.0.3:80", 2)
		at := int64(10 + 2*i)
		tb.Open(c, at)
		tb.Close(c, at+1, 0)
	}
	assert.LessOrEqual(t, tb.Len(), 3)
	assert.Less(t, len(tb.open.items)-tb.open.head, 2000)
	assert.Less(t, len(tb.closed.items)-tb.closed.head, 2000)
}

// TestSteadilyTellsWhenAWindowsLookupHoldsInside: a keep-alive pool's
// lookup over a batch's window is every span's when each socket it found
// (candidate or other end) was open all along; a pool connection or an
// other end opened or closed inside the window makes it not.
func TestSteadilyTellsWhenAWindowsLookupHoldsInside(t *testing.T) {
	tb := New(100, 60*sec)
	open := func(local, peer string, pid, opened int64, connect bool) {
		c := sock(local, peer, pid)
		c.Opened, c.Connect = opened, connect
		tb.Open(c, opened)
	}
	// A pool of two through the VIP, both ends here, open from 1s.
	for _, port := range []string{"40000", "40001"} {
		open("10.0.0.2:"+port, "10.96.0.10:80", 1, sec, true)
		open("10.0.1.5:8080", "10.0.0.2:"+port, 3, sec, false)
	}
	// The same process's socket to another peer, opened at 5s.
	open("10.0.0.2:40100", "10.0.0.9:5432", 1, 5*sec, true)
	// A third pool connection from 8s; the second closes at 12s.
	open("10.0.0.2:40002", "10.96.0.10:80", 1, 8*sec, true)
	open("10.0.1.5:8080", "10.0.0.2:40002", 3, 8*sec, false)
	tb.Close(sock("10.0.0.2:40001", "10.96.0.10:80", 1), 12*sec, 11*sec)
	// Port 81: the client open from 1s, its other end learned at 3s.
	open("10.0.0.2:40200", "10.96.0.11:81", 1, sec, true)
	open("10.0.1.6:8081", "10.0.0.2:40200", 4, 3*sec, false)

	lookup := func(port uint16, from, to int64) (sockets int, steady bool) {
		steady = tb.Steadily(func() {
			for _, c := range tb.OfOwner(nil, Owner{Host: "n1", PID: 1}, netip.Addr{}, port, from, to) {
				ends, _ := tb.OtherEnds(nil, c, from, to)
				sockets += 1 + len(ends)
			}
		})
		return sockets, steady
	}
	for _, tt := range []struct {
		name       string
		port       uint16
		from, to   int64
		sockets    int
		wantSteady bool
	}{
		{"the pool open throughout; another peer's socket opening does not matter", 80, 2 * sec, 7 * sec, 4, true},
		{"a pool connection opened inside", 80, 2 * sec, 9 * sec, 6, false},
		{"three open throughout", 80, 9 * sec, 11 * sec, 6, true},
		{"one closed inside", 80, 9 * sec, 13 * sec, 6, false},
		{"the other end known only from inside", 81, 2 * sec, 7 * sec, 2, false},
		{"the other end known from before", 81, 4 * sec, 7 * sec, 2, true},
	} {
		sockets, steady := lookup(tt.port, tt.from, tt.to)
		assert.Equal(t, tt.sockets, sockets, tt.name)
		assert.Equal(t, tt.wantSteady, steady, tt.name)
	}
	// Outside Steadily nothing is watched.
	assert.Len(t, tb.OfOwner(nil, Owner{Host: "n1", PID: 1}, netip.Addr{}, 80, 2*sec, 9*sec), 3)
}
