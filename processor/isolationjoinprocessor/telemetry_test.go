package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadatatest"
)

func TestOwnTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := createDefaultConfig()
	cfg.MaxEvents = 2
	cfg.MaxPendingSpans = 1
	p, err := newJoinProcessor(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	clock := &fakeClock{t: t0}
	p.now = clock.Now
	p.setNextTraces(new(consumertest.TracesSink))
	hold(p)

	// Three events into a cap of two: one evicted.
	_, err = p.processLogs(context.Background(), eventLogs(
		retransmit(10*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
		retransmit(20*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
		retransmit(30*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
	))
	require.NoError(t, err)
	// Held, then pushed out by the next one (bound 1): released unjoined.
	_, err = p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	_, err = p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	metadatatest.AssertEqualProcessorIsolationJoinPendingSpans(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	// The held one times out and leaves joined with what arrived.
	clock.Advance(cfg.MaxDelay)
	p.sweep()
	// The watermark (30ms) covers this one: joined at once, nothing in its window.
	late := clientSpan(cliIP, cliPort, srvIP, srvPort)
	late.start = -time.Second
	_, err = p.processTraces(context.Background(), spanTraces(late))
	require.NoError(t, err)
	// An event a minute later expires the others (retention): not evictions.
	clock.Advance(time.Minute)
	_, err = p.processLogs(context.Background(), eventLogs(kernelEvent{name: contract.EventCPUSteal, at: time.Minute, attrs: kv{contract.AttrCPUStealNs: 1}}))
	require.NoError(t, err)
	require.Equal(t, 1, p.idx.Len())

	metadatatest.AssertEqualProcessorIsolationJoinEventsIndexed(t, tt, []metricdata.DataPoint[int64]{{Value: 4}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorIsolationJoinEventsEvicted(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorIsolationJoinSpansJoined(t, tt, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("match", "unmatched"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("match", "5tuple"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorIsolationJoinSpansReleasedEarly(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "bound"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "timeout"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorIsolationJoinPendingSpans(t, tt, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, p.Shutdown(context.Background()))
}
