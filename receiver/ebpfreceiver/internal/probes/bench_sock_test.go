package probes

import (
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// Cost of the accept-owner hooks (tp_btf/sock_recv_length and
// sock_send_length, bpf/tcplife.c): they fire on every socket send and
// receive of the node, so their per-call cost and the slowdown of a
// send/recv-heavy loop are what decides whether they can be on by default.
// The figures go in receiver/ebpfreceiver/BENCHMARKS.md.

// tcpPingPong bounces one byte over a loopback TCP connection n times: two
// sends and two receives per round trip, on a connection established before
// the probes load (the steady state of a pooled connection).
type tcpPingPong struct {
	client, server net.Conn
	ln             net.Listener
}

func newTCPPingPong(tb testing.TB) *tcpPingPong {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		tb.Fatal("accept failed")
	}
	p := &tcpPingPong{client: client, server: server, ln: ln}
	tb.Cleanup(func() { _ = client.Close(); _ = server.Close(); _ = ln.Close() })
	return p
}

func (p *tcpPingPong) run(n int) {
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 1)
		for i := 0; i < n; i++ {
			if _, err := io.ReadFull(p.server, buf); err != nil {
				break
			}
			_, _ = p.server.Write(buf)
		}
		close(done)
	}()
	buf := make([]byte, 1)
	for i := 0; i < n; i++ {
		_, _ = p.client.Write(buf)
		_, _ = io.ReadFull(p.client, buf)
	}
	<-done
}

// unixPingPong is the same over a unix stream socketpair (the hooks fire
// and leave at the protocol check).
func unixPingPong(n int) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		buf := make([]byte, 1)
		for i := 0; i < n; i++ {
			_, _ = unix.Read(fds[1], buf)
			_, _ = unix.Write(fds[1], buf)
		}
		close(done)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, 1)
	for i := 0; i < n; i++ {
		_, _ = unix.Write(fds[0], buf)
		_, _ = unix.Read(fds[0], buf)
	}
	<-done
}

func isSockLengthProg(name string) bool { return strings.HasPrefix(name, "handle_sock_") }

// BenchmarkSockLengthHookCost: run_time_ns / run_cnt of the two hooks
// (BPF run-time statistics) over the send/recv loops.
func BenchmarkSockLengthHookCost(b *testing.B) {
	for _, w := range []struct {
		name string
		fn   func(tb testing.TB) func()
	}{
		{"tcp-loopback", func(tb testing.TB) func() { p := newTCPPingPong(tb); return func() { p.run(2000) } }},
		{"unix-socketpair", func(testing.TB) func() { return func() { unixPingPong(2000) } }},
	} {
		b.Run(w.name, func(b *testing.B) {
			requireBenchEnv(b)
			fn := w.fn(b)
			before := programIDs(b)
			s := loadWithAcceptHooks(b)
			defer s.Close()
			mine := newIDs(before, programIDs(b))
			keep := func(n string, _ ebpf.ProgramType) bool { return isSockLengthProg(n) }
			s0 := statsOf(b, mine, keep)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fn()
			}
			b.StopTimer()
			s1 := statsOf(b, mine, keep)
			d := progStats{s1.ns - s0.ns, s1.runs - s0.runs}
			b.ReportMetric(d.perRun(), "ns/run")
			b.ReportMetric(float64(d.runs)/float64(b.N), "runs/op")
		})
	}
}

// loadWithAcceptHooks loads tcp_connection with the accept-owner hooks
// (tcp_accept_owner_hooks: true).
func loadWithAcceptHooks(tb testing.TB) *Set {
	tb.Helper()
	s, err := Load(Options{Enabled: []string{"tcp_connection"}, RingBufferBytes: 1 << 22, AcceptOwnerHooks: true})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkSockLengthHookSlowdown: the loops with the tcp_connection probe
// and its accept-owner hooks (what fires in a steady send/recv loop)
// against none, alternating rounds (slowdownWith); "default" is the probe
// as shipped (hooks off); "control" a probe that does not fire in these
// loops (oom_kill), to read the figures against this machine's noise.
func BenchmarkSockLengthHookSlowdown(b *testing.B) {
	hooks := func() func() { s := loadWithAcceptHooks(b); return func() { _ = s.Close() } }
	for _, w := range []struct {
		name string
		fn   func(tb testing.TB) func()
	}{
		{"tcp-loopback", func(tb testing.TB) func() { p := newTCPPingPong(tb); return func() { p.run(5000) } }},
		{"unix-socketpair", func(testing.TB) func() { return func() { unixPingPong(10000) } }},
	} {
		b.Run(w.name+"/hooks", func(b *testing.B) { testenv.RequireRoot(b); slowdownWith(b, hooks, w.fn(b)) })
		b.Run(w.name+"/default", func(b *testing.B) { slowdown(b, []string{"tcp_connection"}, w.fn(b)) })
		b.Run(w.name+"/control", func(b *testing.B) { slowdown(b, []string{"oom_kill"}, w.fn(b)) })
	}
}
