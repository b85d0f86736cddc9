package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadatatest"
)

func watermarkRecord(at time.Duration) kernelEvent {
	return kernelEvent{name: contract.EventWatermark, at: at}
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
