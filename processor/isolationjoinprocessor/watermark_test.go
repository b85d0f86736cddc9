package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadatatest"
)

func steal(at time.Duration, host string) kernelEvent {
	return kernelEvent{name: contract.EventCPUSteal, at: at, attrs: kv{contract.AttrCPUStealNs: 1}, host: host}
}

// Issue 14 row 2: a record stamped in the future (a node whose clock runs
// 29s ahead) does not move the watermark: the held span stays held, the
// real retransmit arriving next is joined, and the record is counted.
func TestFutureRecordDoesNotReleaseHeldSpans(t *testing.T) {
	p, tt, _ := newTelemetryProcessor(t, createDefaultConfig(), nil)
	sink := newSinkFor(p)
	hold(p)
	_, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	_, err = p.processLogs(context.Background(), eventLogs(steal(29*time.Second, "")))
	require.NoError(t, err)
	p.sweep()
	require.Zero(t, sink.SpanCount(), "a future record must not release held spans")

	_, err = p.processLogs(context.Background(), eventLogs(retransmit(50*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil), steal(300*time.Millisecond, "")))
	require.NoError(t, err)
	p.sweep()
	spans := sinkSpans(sink)
	require.Len(t, spans, 1)
	assert.Equal(t, "5tuple", attr(spans[0], attrJoin))
	assert.Equal(t, int64(1), attr(spans[0], attrRetransmits))
	assert.Nil(t, attr(spans[0], attrJoinIncomplete))
	metadatatest.AssertEqualProcessorIsolationJoinEventsRejected(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

// Issue 14 row 2: watermarks are per node: node A's events, ahead of node
// B's (within the allowed skew), do not release B's held spans.
func TestOneNodeDoesNotReleaseAnothersSpans(t *testing.T) {
	p, sink, _ := newTestProcessor(t, createDefaultConfig())
	hold(p)
	// Both nodes are known; B's events are at 50ms.
	_, err := p.processLogs(context.Background(), eventLogs(steal(50*time.Millisecond, "node-b"), steal(60*time.Millisecond, "node-a")))
	require.NoError(t, err)
	span := clientSpan(cliIP, cliPort, srvIP, srvPort)
	span.resource = kv{"k8s.node.name": "node-b"}
	_, err = p.processTraces(context.Background(), spanTraces(span))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	// Node A (clock 800ms ahead, within max_clock_skew) moves its own watermark only.
	_, err = p.processLogs(context.Background(), eventLogs(steal(800*time.Millisecond, "node-a")))
	require.NoError(t, err)
	p.sweep()
	require.Zero(t, sink.SpanCount(), "node A's watermark released node B's span")
	// B's own events cover the window: released, complete.
	_, err = p.processLogs(context.Background(), eventLogs(steal(300*time.Millisecond, "node-b")))
	require.NoError(t, err)
	p.sweep()
	spans := sinkSpans(sink)
	require.Len(t, spans, 1)
	assert.Nil(t, attr(spans[0], attrJoinIncomplete))
}

// Issue 14 row 3: one throttle record with a long interval (a late poll)
// does not make every later span wait max_delay: the node's latest poll
// round decides how long records may lag.
func TestLongIntervalDoesNotHoldForever(t *testing.T) {
	p, sink, clock := newTestProcessor(t, createDefaultConfig())
	hold(p)
	clock.Advance(5 * time.Second) // no record below is stamped past max_clock_skew
	throttle := func(end, interval time.Duration, cgroup string) kernelEvent {
		return kernelEvent{name: contract.EventCgroupThrottle, at: end, attrs: kv{
			contract.AttrCgroupPath: cgroup, contract.AttrCgroupThrottledNs: int64(10 * time.Millisecond),
			contract.AttrCgroupThrottledPeriods: 1, contract.AttrIsolationLayer: contract.LayerL3,
			contract.AttrIntervalStart: t0.Add(end - interval).UnixNano(), contract.AttrIntervalNs: int64(interval),
		}}
	}
	_, err := p.processLogs(context.Background(), eventLogs(throttle(0, 5*time.Second, "/late-poll")))
	require.NoError(t, err)
	// The next poll round is back to 1s.
	_, err = p.processLogs(context.Background(), eventLogs(throttle(time.Second, time.Second, "/a"), throttle(time.Second, time.Second, "/b")))
	require.NoError(t, err)
	incomplete := 0
	for i := range 20 {
		span := clientSpan(cliIP, cliPort+i, srvIP, srvPort)
		span.start = time.Duration(i+2) * time.Second
		_, err = p.processTraces(context.Background(), spanTraces(span))
		require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
		// Events up to one interval after the span's end arrive.
		_, err = p.processLogs(context.Background(), eventLogs(throttle(span.start+time.Second+300*time.Millisecond, time.Second, "/a")))
		require.NoError(t, err)
		clock.Advance(time.Second)
		p.sweep()
	}
	clock.Advance(time.Minute)
	p.sweep()
	for _, s := range sinkSpans(sink) {
		if attr(s, attrJoinIncomplete) != nil {
			incomplete++
		}
	}
	assert.Equal(t, 20, sink.SpanCount())
	assert.Zero(t, incomplete, "spans left incomplete after one long-interval record")
}

// Issue 15: a node that sent no kernel event within the retention (no
// agent there) gets its spans joined at once once holding has run for
// max_delay — not held for evidence that cannot come — marked and
// counted; a node that does send still has its spans held.
func TestSilentNodeSpansNotHeld(t *testing.T) {
	p, tt, clock := newTelemetryProcessor(t, createDefaultConfig(), nil)
	sink := newSinkFor(p)
	hold(p)
	onNode := func(node string, port int) ptrace.Traces {
		span := clientSpan(cliIP, port, srvIP, srvPort)
		span.resource = kv{"k8s.node.name": node}
		return spanTraces(span)
	}
	// The first max_delay of holding: this node's receiver may not have
	// sent yet, so even a silent node's spans wait.
	_, err := p.processTraces(context.Background(), onNode("node-x", cliPort))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	_, err = p.processLogs(context.Background(), eventLogs(steal(50*time.Millisecond, "node-a")))
	require.NoError(t, err)
	clock.Advance(2 * time.Second)
	p.sweep()
	require.Equal(t, 1, sink.SpanCount())

	td, err := p.processTraces(context.Background(), onNode("node-x", cliPort+1))
	require.NoError(t, err, "node-x never sent a kernel event: not held")
	spans := allSpans(td)
	require.Len(t, spans, 1)
	assert.Equal(t, "unmatched", attr(spans[0], attrJoin))
	assert.Equal(t, "no_kernel_events", attr(spans[0], attrJoinIncomplete))

	_, err = p.processTraces(context.Background(), onNode("node-a", cliPort+2))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData, "node-a sends kernel events: its span waits for them")
	metadatatest.AssertEqualProcessorIsolationJoinSpansReleasedEarly(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "timeout"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "no_kernel_events"))},
	}, metricdatatest.IgnoreTimestamp())
}
