package join

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/index"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/spankey"
)

// TestJoinPreparedMatchesJoin: the lookups shared by the spans of one
// resource (and the connection reused by consecutive spans) find exactly
// what a fresh Join finds for each span.
func TestJoinPreparedMatchesJoin(t *testing.T) {
	ap := netip.MustParseAddrPort
	a, b, c := ap("10.0.0.1:4000"), ap("10.0.0.2:80"), ap("10.0.0.3:443")
	x := index.New(100, 1<<40)
	for _, e := range []*kevent.Event{
		{Time: 10, Name: contract.EventTCPRetransmit, Host: "n", Local: a, Peer: b, PID: 7},
		{Time: 20, Name: contract.EventTCPRetransmit, Host: "n", Local: b, Peer: a},
		{Time: 30, Name: contract.EventTCPRetransmit, Host: "n", Local: a, Peer: c, PID: 7},
		{Time: 40, Name: contract.EventCgroupThrottle, Host: "n", PID: 7, DurationNs: 5},
		{Time: 50, Name: contract.EventCPUSteal, Host: "n", DurationNs: 5},
	} {
		x.Add(e)
	}
	res := spankey.Keys{Host: "n", PID: 7}
	spans := []Span{
		{Keys: withConn(res, a, b), From: 0, To: 100},
		{Keys: withConn(res, a, b), From: 15, To: 45},
		{Keys: withConn(res, a, c), From: 0, To: 100},
		{Keys: withConn(res, a, b), From: 0, To: 25},
		{Keys: res, From: 0, To: 100},
		{Keys: withConn(res, b, a), From: 0, To: 100},
	}
	r := Prepare(x, &res)
	for i, s := range spans {
		want := Join(x, s, nil)
		got := JoinPrepared(x, &r, s, nil)
		assert.Equal(t, want, got, "span %d", i)
		assert.NotEmpty(t, got.Events, "span %d", i)
	}
	h := r.Host("n")
	r2 := PrepareAfter(x, &res, &h)
	assert.Equal(t, Join(x, spans[0], nil), JoinPrepared(x, &r2, spans[0], nil))
	other := spankey.Keys{Host: "m", PID: 7}
	r3 := PrepareAfter(x, &other, &h)
	assert.Equal(t, Prepare(x, &other), r3, "another node's resource does not reuse the node lookups")
}

func withConn(k spankey.Keys, local, peer netip.AddrPort) spankey.Keys {
	k.Local, k.Peer, k.PeerPort = local, peer, peer.Port()
	return k
}

// TestNetworkEventsStayNetworkKeyed: an event with a network peer joins a
// span only through the 5-tuple or peer keys, never through its process.
func TestNetworkEventsStayNetworkKeyed(t *testing.T) {
	ap := netip.MustParseAddrPort
	cli, pay, fe := ap("10.0.0.1:4000"), ap("10.0.0.2:8082"), ap("10.0.0.9:5555")
	x := index.New(100, 1<<40)
	connectWait := &kevent.Event{Time: 10, Name: contract.EventSyscallSlow, Host: "n", Peer: pay, PID: 7, DurationNs: 5}
	sched := &kevent.Event{Time: 20, Name: contract.EventSchedDelay, Host: "n", PID: 7, DurationNs: 5}
	x.Add(connectWait)
	x.Add(sched)
	proc := spankey.Keys{Host: "n", PID: 7}
	tests := []struct {
		name    string
		keys    spankey.Keys
		quality string
		want    []*kevent.Event
	}{
		{"server span of the process (no peer): only the process's own events", proc, QualityProcess, []*kevent.Event{sched}},
		{"server span from another client: not the connect wait", withConn(proc, ap("10.0.0.1:8081"), fe), QualityProcess, []*kevent.Event{sched}},
		{"client span to the peer, local unknown: peer key", func() spankey.Keys { k := proc; k.Peer = pay; return k }(), QualityPeer, []*kevent.Event{connectWait, sched}},
		{"client span to the peer by hostname: peer port", func() spankey.Keys { k := proc; k.PeerHost, k.PeerPort = "payment", pay.Port(); return k }(), QualityPeer, []*kevent.Event{connectWait, sched}},
		{"client span with the full 5-tuple: the process's peer-only event (connect wait)", withConn(proc, cli, pay), QualityPeer, []*kevent.Event{connectWait, sched}},
		{"client span of another process to the same peer: not its connect wait", withConn(spankey.Keys{Host: "n", PID: 8}, cli, pay), QualityProcess, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Join(x, Span{Keys: tt.keys, From: 0, To: 100}, nil)
			assert.Equal(t, tt.quality, got.Quality)
			assert.ElementsMatch(t, tt.want, got.Events)
		})
	}
}

// TestRootCgroupIsNobodys: a process whose cgroup path in some hierarchy
// is "/" (v1 controllers only, its unified path the root) does not get the
// events of every kernel thread and unplaced task in the root cgroup.
func TestRootCgroupIsNobodys(t *testing.T) {
	x := index.New(100, 1<<40)
	worker := &kevent.Event{Time: 10, Name: contract.EventBlockIO, Host: "n", PID: 1420, CgroupPath: "/", DurationNs: 5}
	own := &kevent.Event{Time: 20, Name: contract.EventCgroupThrottle, Host: "n", CgroupPath: "/chx-e2e-payment", DurationNs: 5}
	x.Add(worker)
	x.Add(own)
	k := spankey.Keys{Host: "n", PID: 7, CgroupPath: "/chx-e2e-payment", CPUCgroupPath: "/chx-e2e-payment", V2CgroupPath: "/"}
	got := Join(x, Span{Keys: k, From: 0, To: 100}, nil)
	assert.Equal(t, []*kevent.Event{own}, got.Events)
	k = spankey.Keys{Host: "n", PID: 7, CgroupPath: "/"}
	got = Join(x, Span{Keys: k, From: 0, To: 100}, nil)
	assert.Empty(t, got.Events)
}
