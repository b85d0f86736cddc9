package isolationjoinprocessor

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

// writeHeld is a sandbox supervisor's hold of a write on the socket
// local→peer (kernel.syscall.slow, entry phase, naming its socket), ended
// at `at` after wait.
func writeHeld(at, wait time.Duration, local string, lport int, peer string, pport int, owner int) kernelEvent {
	return kernelEvent{name: contract.EventSyscallSlow, at: at, attrs: kv{
		contract.AttrProcessPID: owner, contract.AttrSyscallName: "write", contract.AttrSyscallPhase: "entry",
		contract.AttrSyscallLatencyNs: int64(wait), contract.AttrSeccompMode: 2, contract.AttrIsolationLayer: contract.LayerL4,
		contract.AttrNetworkTransport: "tcp", contract.AttrNetworkLocalAddress: local, contract.AttrNetworkLocalPort: lport,
		contract.AttrNetworkPeerAddress: peer, contract.AttrNetworkPeerPort: pport,
	}}
}

// TestSocketWaitJoinsItsConnectionsSpan: a process (stock Go spans: SDK
// default resource, client spans with a host name only) serves two
// requests at once, each calling payment through its Service VIP over one
// of two pooled connections; a supervisor holds request A's write (B's
// went through at once). The wait names its socket, so it is the client
// span of the request whose connection carried it (inside that span's
// time): neither server span — whose peer is the frontend — nor request
// B's client span (one of the pool's candidate connections, its window
// reaching the wait) get it, though all overlap it in the same process.
func TestSocketWaitJoinsItsConnectionsSpan(t *testing.T) {
	const (
		orderIP  = "198.18.65.7"
		frontIP  = "198.18.65.9"
		ms       = time.Millisecond
		srvPortA = 45001
		srvPortB = 45002
	)
	evs := []kernelEvent{
		established(-20*time.Second, contract.EstablishedConnect, "127.0.0.1", 41000, "127.0.0.1", otlpPort, appPID),
		established(-20*time.Second, contract.EstablishedAccept, "127.0.0.1", otlpPort, "127.0.0.1", 41000, os.Getpid()),
		established(-10*time.Second, contract.EstablishedAccept, orderIP, 8081, frontIP, srvPortA, appPID),
		established(-10*time.Second, contract.EstablishedAccept, orderIP, 8081, frontIP, srvPortB, appPID),
		established(-10*time.Second, contract.EstablishedConnect, orderIP, 40001, vipIP, 80, appPID),
		established(-10*time.Second, contract.EstablishedConnect, orderIP, 40002, vipIP, 80, appPID),
		writeHeld(200*ms, 50*ms, orderIP, 40001, vipIP, 80, appPID), // request A's, on its connection
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "order")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	add := func(trace, id, parent byte, kind ptrace.SpanKind, from, to time.Duration, attrs kv) {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{trace})
		s.SetSpanID(pcommon.SpanID{id})
		if parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{parent})
		}
		s.SetKind(kind)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(from)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(to)))
		putAll(s.Attributes(), attrs)
	}
	server := func(port int) kv {
		return kv{"network.peer.address": frontIP, "network.peer.port": port, "server.address": "order", "url.path": "/order"}
	}
	client := kv{"server.address": "payment", "url.full": "http://payment/pay", "http.request.method": "POST"}
	add(1, 1, 0, ptrace.SpanKindServer, 130*ms, 290*ms, server(srvPortA))
	add(1, 2, 1, ptrace.SpanKindClient, 140*ms, 280*ms, client)
	add(2, 3, 0, ptrace.SpanKindServer, 140*ms, 215*ms, server(srvPortB)) // the wait is most of it
	add(2, 4, 3, ptrace.SpanKindClient, 144*ms, 150*ms, client)

	p, _, _ := newTestProcessor(t, createDefaultConfig())
	_, err := p.processLogs(grpcSender("127.0.0.1", 41000), eventLogs(evs...))
	require.NoError(t, err)
	td, err = p.processTraces(grpcSender("127.0.0.1", 41000), td)
	require.NoError(t, err)
	got := allSpans(td)
	require.Len(t, got, 4)
	for i, name := range []string{"server A", "client A", "server B", "client B"} {
		want := contract.LayerApp
		if i == 1 {
			want = contract.LayerL4
		}
		assert.Equal(t, want, attr(got[i], contract.AttrIsolationLayer), "%s: %v (join %v)", name, attr(got[i], attrCause), attr(got[i], attrJoin))
		assert.NotEqual(t, "unmatched", attr(got[i], attrJoin), name)
	}
}
