package conntable

import (
	"net/netip"
	"testing"
)

// BenchmarkLookups measures the lookups a span costs on a populated table:
// 10k processes with 10 pooled connections each (100k sockets, both ends
// of 50k connections on this node).
func BenchmarkLookups(b *testing.B) {
	const procs, perProc = 10_000, 10
	tb := New(1_000_000, 30*sec)
	srv := netip.MustParseAddrPort("10.1.0.1:8080")
	cli := func(p, i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(p >> 8), byte(p)}), uint16(30000+i))
	}
	for p := range procs {
		for i := range perProc / 2 {
			tb.Open(Conn{Host: "n1", Local: cli(p, i), Peer: srv, PID: int64(p + 100), Opened: sec}, sec)
			tb.Open(Conn{Host: "n1", Local: srv, Peer: cli(p, i), PID: 1, Opened: sec}, sec)
		}
	}
	var buf, ends []*Conn
	b.Run("client=process+port", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			p := i % procs
			buf = tb.OfOwner(buf[:0], Owner{Host: "n1", PID: int64(p + 100)}, netip.Addr{}, 8080, 2*sec, 3*sec)
			for _, c := range buf {
				ends = tb.OtherEnds(ends[:0], c, 2*sec, 3*sec)
			}
		}
	})
	b.Run("server=peer-endpoint", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			buf = tb.ByPeer(buf[:0], "n1", cli(i%procs, i%(perProc/2)), 0, 2*sec, 3*sec)
			for _, c := range buf {
				ends = tb.OtherEnds(ends[:0], c, 2*sec, 3*sec)
			}
		}
	})
	if len(buf) == 0 {
		b.Fatal("no connection found")
	}
}
