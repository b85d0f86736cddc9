package conntable

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
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
				ends, _ = tb.OtherEnds(ends[:0], c, 2*sec, 3*sec)
			}
		}
	})
	b.Run("server=peer-endpoint", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			buf = tb.ByPeer(buf[:0], "n1", cli(i%procs, i%(perProc/2)), 0, 2*sec, 3*sec)
			for _, c := range buf {
				ends, _ = tb.OtherEnds(ends[:0], c, 2*sec, 3*sec)
			}
		}
	})
	if len(buf) == 0 {
		b.Fatal("no connection found")
	}
}

// BenchmarkLookupsBusyListener is a client's pooled connections to a
// listener that also took 100 short connections a second for the whole
// retention (3,000 closed sockets on its endpoint, older than the pool):
// the client's lookups must not scan them.
func BenchmarkLookupsBusyListener(b *testing.B) {
	tb := New(1_000_000, 30*sec)
	srv := netip.MustParseAddrPort("127.0.0.1:8080")
	at := int64(sec)
	for i := range 3000 {
		cli := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(20000+i))
		tb.Open(Conn{Host: "n1", Local: cli, Peer: srv, PID: 7, Connect: true, Opened: at}, at)
		tb.Open(Conn{Host: "n1", Local: srv, Peer: cli, PID: 1, Opened: at}, at)
		tb.Close(Conn{Host: "n1", Local: cli, Peer: srv}, at+1e6, 0)
		tb.Close(Conn{Host: "n1", Local: srv, Peer: cli}, at+1e6, 0)
		at += int64(sec) / 100
	}
	for i := range 4 {
		cli := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+i))
		tb.Open(Conn{Host: "n1", Local: cli, Peer: srv, PID: 9, Connect: true, Opened: at}, at)
		tb.Open(Conn{Host: "n1", Local: srv, Peer: cli, PID: 1, Opened: at}, at)
	}
	from, to := at+int64(sec), at+2*int64(sec)
	var buf, ends []*Conn
	b.Run("client", func(b *testing.B) {
		for b.Loop() {
			buf = tb.OfOwner(buf[:0], Owner{Host: "n1", PID: 9}, netip.Addr{}, 8080, from, to)
			for _, c := range buf {
				ends, _ = tb.OtherEnds(ends[:0], c, from, to)
			}
		}
		if len(buf) != 4 || len(ends) != 1 {
			b.Fatalf("found %d connections and %d other ends, want 4 and 1", len(buf), len(ends))
		}
	})
	// A server span of the same pool: its socket's local end is the
	// listener's, shared with the 3,000 closed ones.
	b.Run("server", func(b *testing.B) {
		cli := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 40000)
		for b.Loop() {
			buf = tb.ByPeer(buf[:0], "n1", cli, 8080, from, to)
			for _, c := range buf {
				_ = tb.ownLocal(c, from, to)
				ends, _ = tb.OtherEnds(ends[:0], c, from, to)
			}
		}
		if len(buf) != 1 || len(ends) != 1 {
			b.Fatalf("found %d connections and %d other ends, want 1 and 1", len(buf), len(ends))
		}
	})
}

// BenchmarkTableMemory reports the heap one held connection costs, with
// an owner as the receiver writes it (a container's cgroup path and
// executable name, their own strings per record).
func BenchmarkTableMemory(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tb := New(n, 30*sec)
		for i := range n {
			local := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), uint16(30000+i%20000))
			tb.Open(Conn{
				Host: "node-1", Local: local, Peer: netip.MustParseAddrPort("10.96.0.10:80"), Netns: 4026532000 + int64(i%50),
				PID: int64(1000 + i/10), Exe: strings.Clone("frontend"), Connect: true, Opened: sec,
				CgroupPath:  fmt.Sprintf("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%08x.slice/cri-containerd-%064x.scope", i/10, i/10),
				ContainerID: fmt.Sprintf("%064x", i/10),
			}, sec)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/conn")
		runtime.KeepAlive(tb)
	}
}
