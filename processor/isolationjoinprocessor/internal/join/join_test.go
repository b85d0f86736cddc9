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
