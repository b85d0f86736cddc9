package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

// parentChildTraces is one resource (pid) with a server span over
// [0, 100ms] and its client child over [20ms, 80ms]; childPid ≠ 0 puts
// the child in another resource of that pid.
func parentChildTraces(childPid int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutInt("process.pid", pid)
	ss := rs.ScopeSpans().AppendEmpty()
	tid := pcommon.TraceID{7}
	srv := ss.Spans().AppendEmpty()
	srv.SetName("server")
	srv.SetTraceID(tid)
	srv.SetSpanID(pcommon.SpanID{1})
	srv.SetKind(ptrace.SpanKindServer)
	srv.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	srv.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(100 * time.Millisecond)))
	if childPid != 0 {
		rs = td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutInt("process.pid", int64(childPid))
		ss = rs.ScopeSpans().AppendEmpty()
	}
	cli := ss.Spans().AppendEmpty()
	cli.SetName("client")
	cli.SetTraceID(tid)
	cli.SetSpanID(pcommon.SpanID{2})
	cli.SetParentSpanID(pcommon.SpanID{1})
	cli.SetKind(ptrace.SpanKindClient)
	cli.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(20 * time.Millisecond)))
	cli.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(80 * time.Millisecond)))
	return td
}

func TestProcessEvidenceGoesToTheInnermostSpan(t *testing.T) {
	ms := time.Millisecond
	sched := func(at time.Duration, p int, d time.Duration) kernelEvent {
		return kernelEvent{name: contract.EventSchedDelay, at: at, attrs: kv{
			contract.AttrProcessPID: p, contract.AttrSchedDelayNs: int64(d), contract.AttrIsolationLayer: contract.LayerL3,
		}}
	}
	tests := []struct {
		name                     string
		events                   []kernelEvent
		childPid                 int
		wantServer, wantClient   string // isolation.layer
		serverSched, clientSched any
	}{
		{
			name:       "delay inside the child: the child's only",
			events:     []kernelEvent{sched(70*ms, pid, 40*ms)},
			wantServer: contract.LayerApp, wantClient: contract.LayerL3,
			serverSched: nil, clientSched: 40.0,
		},
		{
			name:       "delay outside the child: the parent's",
			events:     []kernelEvent{sched(100*ms, pid, 20*ms)},
			wantServer: contract.LayerL3, wantClient: contract.LayerApp,
			serverSched: 20.0, clientSched: nil,
		},
		{
			// The record is stamped when the wait ended, here 2ms after
			// the child (20–80ms) ended: 48 of its 50ms lie inside the
			// child, whose wait it was.
			name:       "wait mostly inside the child, stamped after it: the child's",
			events:     []kernelEvent{sched(82*ms, pid, 50*ms)},
			wantServer: contract.LayerApp, wantClient: contract.LayerL3,
			serverSched: nil, clientSched: 48.0, // the part inside the span
		},
		{
			// Ends inside the child (at 25ms) but 20 of its 25ms lie
			// before the child began: the parent's own wait (the child
			// still sees its own 5ms of it, below any threshold).
			name:       "wait mostly before the child, ending inside it: the parent's",
			events:     []kernelEvent{sched(25*ms, pid, 25*ms)},
			wantServer: contract.LayerL3, wantClient: contract.LayerApp,
			serverSched: 25.0, clientSched: 5.0,
		},
		{
			name:       "child in another process: both keep their own process's evidence",
			events:     []kernelEvent{sched(70*ms, pid, 40*ms)},
			childPid:   pid + 1,
			wantServer: contract.LayerL3, wantClient: contract.LayerApp,
			serverSched: 40.0, clientSched: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.EvidenceOnAppSpans = true // where the evidence went, blamed or not
			p, _, _ := newTestProcessor(t, cfg)
			_, err := p.processLogs(context.Background(), eventLogs(tt.events...))
			require.NoError(t, err)
			td, err := p.processTraces(context.Background(), parentChildTraces(tt.childPid))
			require.NoError(t, err)
			spans := allSpans(td)
			require.Len(t, spans, 2)
			assert.Equal(t, tt.wantServer, attr(spans[0], contract.AttrIsolationLayer), "server: %v", attr(spans[0], attrCause))
			assert.Equal(t, tt.wantClient, attr(spans[1], contract.AttrIsolationLayer), "client: %v", attr(spans[1], attrCause))
			assert.Equal(t, tt.serverSched, attr(spans[0], attrSchedDelayMs))
			assert.Equal(t, tt.clientSched, attr(spans[1], attrSchedDelayMs))
		})
	}
}

// TestConnectWaitJoinsTheClientSpan: a syscall wait that carries the peer
// (a sandboxed connect) attaches to the client span to that peer, never to
// the server span of the same process through the pid.
func TestConnectWaitJoinsTheClientSpan(t *testing.T) {
	wait := kernelEvent{name: contract.EventSyscallSlow, at: 60 * time.Millisecond, attrs: kv{
		contract.AttrProcessPID: pid, contract.AttrSyscallName: "connect", contract.AttrSyscallPhase: "entry",
		contract.AttrSyscallLatencyNs:   int64(40 * time.Millisecond),
		contract.AttrNetworkPeerAddress: srvIP, contract.AttrNetworkPeerPort: srvPort,
	}}
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	_, err := p.processLogs(context.Background(), eventLogs(wait))
	require.NoError(t, err)
	td := parentChildTraces(0)
	cli := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1)
	putAll(cli.Attributes(), kv{"network.local.address": cliIP, "network.local.port": cliPort,
		"network.peer.address": srvIP, "network.peer.port": srvPort})
	td, err = p.processTraces(context.Background(), td)
	require.NoError(t, err)
	spans := allSpans(td)
	assert.Equal(t, contract.LayerApp, attr(spans[0], contract.AttrIsolationLayer), "server span")
	assert.Equal(t, contract.LayerL4, attr(spans[1], contract.AttrIsolationLayer), "client span")
	assert.Equal(t, "peer", attr(spans[1], attrJoin))
}

// TestSandboxTrapsGoToTheRequestsEntrySpan: a gVisor trap window lying
// inside the client span goes to the server span of the request (the
// sandboxed service's handling of it), not to the client span, whose time
// is the call it makes; a plain process-level wait there stays the
// client's (TestProcessEvidenceGoesToTheInnermostSpan).
func TestSandboxTrapsGoToTheRequestsEntrySpan(t *testing.T) {
	ms := time.Millisecond
	traps := kernelEvent{name: contract.EventSyscallSlow, at: 75 * ms, attrs: kv{
		contract.AttrProcessPID: pid, contract.AttrSyscallName: "read", contract.AttrSyscallPhase: "sandbox",
		contract.AttrSyscallLatencyNs: int64(30 * ms), contract.AttrIsolationLayer: contract.LayerL4,
		contract.AttrIntervalStart: t0.Add(25 * ms).UnixNano(), contract.AttrIntervalNs: int64(50 * ms),
	}}
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	_, err := p.processLogs(context.Background(), eventLogs(traps))
	require.NoError(t, err)
	td, err := p.processTraces(context.Background(), parentChildTraces(0))
	require.NoError(t, err)
	spans := allSpans(td)
	require.Len(t, spans, 2)
	assert.Equal(t, contract.LayerL4, attr(spans[0], contract.AttrIsolationLayer), "server: %v", attr(spans[0], attrCause))
	assert.Contains(t, attr(spans[0], attrCause), "sandbox syscall traps")
	assert.Equal(t, 30.0, attr(spans[0], attrSyscallSlowMs))
	assert.Equal(t, contract.LayerApp, attr(spans[1], contract.AttrIsolationLayer), "client: %v", attr(spans[1], attrCause))
	assert.Nil(t, attr(spans[1], attrSyscallSlowMs), "the client span carries no trap time")
}
