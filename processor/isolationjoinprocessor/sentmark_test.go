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
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadatatest"
)

func watermarkRecord(at time.Duration) kernelEvent {
	return kernelEvent{name: contract.EventWatermark, at: at}
}

// heldServerSpan holds a stock server span (t0 to t0+300ms) of an
// anonymous resource on a node whose polled records sum one-second
// intervals: without the node's watermark records it waits for the
// watermark to pass its end by the accept wait and the interval (a
// second), so it would be released at t0+1.4s.
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

// The receiver's watermark record says every record of its node up to its
// stamp has been sent, the late ones included: a held span leaves as soon
// as one passes its end plus the slack (t0+400ms), not a second later
// (with the node's polls a second apart, that second made a third of the
// e2e's spans wait until max_delay). The record is not indexed and the
// logs pass on unchanged.
func TestWatermarkRecordReleasesAtTheSpansEnd(t *testing.T) {
	p, sink, _ := newTestProcessor(t, createDefaultConfig())
	heldServerSpan(t, p)
	indexed := p.idx.Len()

	ld := eventLogs(watermarkRecord(399 * time.Millisecond))
	out, err := p.processLogs(context.Background(), ld)
	require.NoError(t, err)
	assert.Equal(t, 1, out.LogRecordCount(), "the record passes on")
	p.sweep()
	assert.Zero(t, sink.SpanCount(), "the slack's last millisecond is not promised yet")

	_, err = p.processLogs(context.Background(), eventLogs(watermarkRecord(400*time.Millisecond)))
	require.NoError(t, err)
	p.sweep()
	spans := sinkSpans(sink)
	require.Len(t, spans, 1, "released once its node promised the window")
	assert.Nil(t, attr(spans[0], attrJoinIncomplete))
	assert.Equal(t, "5tuple", attr(spans[0], attrJoin), "the accepted socket's record, promised too, joined it")
	assert.Equal(t, indexed, p.idx.Len(), "a watermark record is no kernel event")
}

// A watermark record forwarded over OTLP (a gateway's, from a node agent)
// promises nothing: an exporter's queue sends batches concurrently and
// retries them, so records stamped before it may still come. It counts
// as the node's watermark, with the assumed lateness.
func TestWatermarkRecordOverOTLPIsOnlyAWatermark(t *testing.T) {
	p, sink, _ := newTestProcessor(t, createDefaultConfig())
	heldServerSpan(t, p)
	_, err := p.processLogs(grpcSender("10.0.0.9", 45000), eventLogs(watermarkRecord(time.Second)))
	require.NoError(t, err)
	p.sweep()
	assert.Zero(t, sink.SpanCount(), "held for the assumed lateness")
	_, err = p.processLogs(grpcSender("10.0.0.9", 45000), eventLogs(watermarkRecord(1400*time.Millisecond)))
	require.NoError(t, err)
	p.sweep()
	require.Equal(t, 1, sink.SpanCount(), "released by the watermark past the end by the longer wait")
}

// Spans still held when the collector stops leave marked
// isolation.join.incomplete=shutdown and counted under that reason: not
// max_delay, which they never reached.
func TestShutdownMarksHeldSpans(t *testing.T) {
	p, tt, _ := newTelemetryProcessor(t, createDefaultConfig(), nil)
	sink := newSinkFor(p)
	heldServerSpan(t, p)
	require.NoError(t, p.Shutdown(context.Background()))
	spans := sinkSpans(sink)
	require.Len(t, spans, 1)
	assert.Equal(t, "shutdown", attr(spans[0], attrJoinIncomplete))
	metadatatest.AssertEqualProcessorIsolationJoinSpansReleasedEarly(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "shutdown"))},
	}, metricdatatest.IgnoreTimestamp())
}
