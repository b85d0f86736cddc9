package isolationjoinprocessor

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

// TestAcceptWaitOnlyWhenALateRecordCanMatter: spans whose resource names
// no process wait past their end for accepted sockets' late records (the
// receiver claims them up to a second late) — unless no such record can
// change how they join: client spans of a sender the table knows, whose
// process opened no connection lately. Those leave once the node's
// watermark covers them; a server span, a fresh connection or an unknown
// sender still waits.
func TestAcceptWaitOnlyWhenALateRecordCanMatter(t *testing.T) {
	client := testSpan{kind: ptrace.SpanKindClient, dur: 300 * time.Millisecond, resource: kv{"service.name": "frontend"}, attrs: kv{
		"server.address": "backend.svc", "url.full": "http://backend.svc/api",
	}}
	server := client
	server.kind = ptrace.SpanKindServer
	server.attrs = kv{"client.address": cliIP, "client.port": 40001}
	sender := []kernelEvent{
		established(-20*time.Second, contract.EstablishedConnect, "127.0.0.1", 41000, "127.0.0.1", otlpPort, appPID),
		established(-20*time.Second, contract.EstablishedAccept, "127.0.0.1", otlpPort, "127.0.0.1", 41000, os.Getpid()),
	}
	// The node's watermark covers the spans' end plus the slack, not
	// the accept wait on top.
	watermark := kernelEvent{name: contract.EventCPUSteal, at: 500 * time.Millisecond, attrs: kv{contract.AttrCPUStealNs: 1}}
	fresh := established(-500*time.Millisecond, contract.EstablishedConnect, cliIP, 40002, vipIP, 80, appPID)
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		span   testSpan
		extra  []kernelEvent
		waits  bool
		reason string
	}{
		{"client spans of a known sender, pooled connections", grpcSender("127.0.0.1", 41000), client, nil, false, ""},
		{"the sender opened a connection half a second ago", grpcSender("127.0.0.1", 41000), client, []kernelEvent{fresh}, true,
			"its other end's record may still come"},
		{"a server span", grpcSender("127.0.0.1", 41000), server, nil, true, "its socket was accepted"},
		{"an unknown sender", grpcSender("127.0.0.1", 41999), client, nil, true, "its connection's record may still come"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, _, _ := newTestProcessor(t, createDefaultConfig())
			hold(p)
			events := append(append(append(viaService(40001), sender...), tt.extra...), watermark)
			_, err := p.processLogs(context.Background(), eventLogs(events...))
			require.NoError(t, err)
			td, err := p.processTraces(tt.ctx, spanTraces(tt.span))
			if tt.waits {
				require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData, "held: %s", tt.reason)
				return
			}
			require.NoError(t, err, "joined on arrival: the watermark covers the window")
			got := allSpans(td)[0]
			assert.Equal(t, "5tuple", attr(got, attrJoin), "the app's pooled connection")
			assert.Nil(t, attr(got, attrJoinIncomplete))
		})
	}
}

// TestAcceptWaitAndIntervalWaitOverlap: a batch that waits for accepted
// sockets' late records, on a node whose polled records are stamped at
// the end of their interval, waits for the watermark to pass its end by
// the longer of the two, not by both: added (2s past the end), every
// such span was released by max_delay (2s) and marked incomplete.
func TestAcceptWaitAndIntervalWaitOverlap(t *testing.T) {
	watermark := func(at time.Duration) kernelEvent {
		return kernelEvent{name: contract.EventCPUSteal, at: at, attrs: kv{contract.AttrCPUStealNs: 1}}
	}
	p, sink, _ := newTestProcessor(t, createDefaultConfig())
	heldServerSpan(t, p)

	// The span ends at t0+300ms: end + slack + 1s = t0+1.4s.
	_, err := p.processLogs(context.Background(), eventLogs(watermark(1300*time.Millisecond)))
	require.NoError(t, err)
	p.sweep()
	assert.Zero(t, sink.SpanCount(), "a record of the last second may still come")
	_, err = p.processLogs(context.Background(), eventLogs(watermark(1450*time.Millisecond)))
	require.NoError(t, err)
	p.sweep()
	spans := sinkSpans(sink)
	require.Len(t, spans, 1, "released once the watermark passed the end by the longer wait")
	assert.Nil(t, attr(spans[0], attrJoinIncomplete))
}

// heldServerSpan holds a stock server span (t0 to t0+300ms) of an
// anonymous resource on a node whose polled records sum one-second
// intervals, its accepted sockets claimed 100ms late: without the node's
// watermark records it waits for the watermark to pass its end by the
// accept wait (a second: acceptClaimWait) and the interval (a second), the
// longer of the two, so until t0+1.4s.
func heldServerSpan(t *testing.T, p *joinProcessor) {
	t.Helper()
	hold(p)
	round := kernelEvent{name: contract.EventCgroupThrottle, at: 0, attrs: kv{
		contract.AttrCgroupPath: "/x", contract.AttrCgroupThrottledNs: int64(time.Millisecond),
		contract.AttrIntervalStart: t0.Add(-time.Second).UnixNano(), contract.AttrIntervalNs: int64(time.Second),
	}}
	_, err := p.processLogs(context.Background(), eventLogs(
		established(-150*time.Millisecond, contract.EstablishedConnect, cliIP, 40001, vipIP, 80, appPID),
		established(-100*time.Millisecond, contract.EstablishedAccept, podIP, srvPort, cliIP, 40001, srvPID),
		established(-150*time.Millisecond, contract.EstablishedConnect, "127.0.0.1", 41000, "127.0.0.1", otlpPort, appPID),
		established(-100*time.Millisecond, contract.EstablishedAccept, "127.0.0.1", otlpPort, "127.0.0.1", 41000, os.Getpid()),
		round,
	))
	require.NoError(t, err)
	require.Equal(t, int64(time.Second), p.idx.IntervalOf(p.hostname))
	server := testSpan{kind: ptrace.SpanKindServer, dur: 300 * time.Millisecond, resource: kv{"service.name": "frontend"},
		attrs: kv{"client.address": cliIP, "client.port": 40001}}
	_, err = p.processTraces(grpcSender("127.0.0.1", 41000), spanTraces(server))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
}
