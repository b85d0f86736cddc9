package isolationjoinprocessor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadatatest"
)

// flakySink refuses its first `failures` calls, then takes everything.
type flakySink struct {
	consumertest.TracesSink
	mu       sync.Mutex
	failures int
	calls    int
	err      error
}

func (s *flakySink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	s.mu.Lock()
	s.calls++
	fail := s.calls <= s.failures
	s.mu.Unlock()
	if fail {
		return s.err
	}
	return s.TracesSink.ConsumeTraces(ctx, td)
}

func newTelemetryProcessor(t *testing.T, cfg *Config, next consumer.Traces) (*joinProcessor, *componenttest.Telemetry, *fakeClock) {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	p, err := newJoinProcessor(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	clock := &fakeClock{t: t0}
	p.now = clock.Now
	p.setNextTraces(next)
	return p, tt, clock
}

// Issue 14 row 6: a held batch the next consumer refuses is retried with
// backoff; a transient refusal loses nothing.
func TestHeldBatchRetriedAfterTransientRefusal(t *testing.T) {
	sink := &flakySink{failures: 2, err: errors.New("queue full")}
	p, tt, clock := newTelemetryProcessor(t, createDefaultConfig(), sink)
	hold(p)
	_, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	clock.Advance(createDefaultConfig().MaxDelay)
	p.sweep()
	assert.Equal(t, 1, sink.SpanCount(), "delivered on the third attempt")
	assert.Equal(t, 3, sink.calls)
	require.NoError(t, p.Shutdown(context.Background()))
	_, err = tt.GetMetric("otelcol_processor_isolation_join_spans_dropped")
	assert.Error(t, err, "nothing dropped")
}

// Issue 14 row 6: a held batch refused for good (a permanent error, or
// every retry) is counted as dropped: the loss is measurable.
func TestHeldBatchRefusedIsCounted(t *testing.T) {
	for name, sink := range map[string]*flakySink{
		"permanent":  {failures: 1, err: consumererror.NewPermanent(errors.New("bad data"))},
		"persistent": {failures: 1 << 30, err: errors.New("exporter down")},
	} {
		t.Run(name, func(t *testing.T) {
			p, tt, clock := newTelemetryProcessor(t, createDefaultConfig(), sink)
			hold(p)
			_, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort), clientSpan(cliIP, cliPort+1, srvIP, srvPort)))
			require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
			clock.Advance(createDefaultConfig().MaxDelay)
			p.sweep()
			assert.Zero(t, sink.SpanCount())
			if name == "permanent" {
				assert.Equal(t, 1, sink.calls, "a permanent error is not retried")
			} else {
				assert.Equal(t, 1+deliveryRetries, sink.calls)
			}
			metadatatest.AssertEqualProcessorIsolationJoinSpansDropped(t, tt, []metricdata.DataPoint[int64]{
				{Value: 2, Attributes: attribute.NewSet(attribute.String("failure", "refused"))},
			}, metricdatatest.IgnoreTimestamp())
			require.NoError(t, p.Shutdown(context.Background()))
		})
	}
}

// blockingSink never returns until released.
type blockingSink struct {
	consumertest.TracesSink
	entered chan struct{}
	release chan struct{}
}

func (s *blockingSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return s.TracesSink.ConsumeTraces(ctx, td)
}

// Issue 14 row 12: Shutdown returns when its context ends even when the
// downstream blocks, and counts the spans it could not flush.
func TestShutdownHonoursItsContext(t *testing.T) {
	sink := &blockingSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(sink.release) })
	p, tt, _ := newTelemetryProcessor(t, createDefaultConfig(), sink)
	hold(p)
	for i := range 3 {
		_, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort+i, srvIP, srvPort)))
		require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	returned := make(chan error, 1)
	go func() { returned <- p.Shutdown(ctx) }()
	select {
	case err := <-returned:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown still blocked long after its deadline")
	}
	metadatatest.AssertEqualProcessorIsolationJoinSpansDropped(t, tt, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("failure", "shutdown"))},
	}, metricdatatest.IgnoreTimestamp())
}

// Issue 14 row 9: one isolation_join ID in two traces pipelines: each
// held span leaves through the pipeline it came in by.
func TestHeldSpansLeaveThroughTheirOwnPipeline(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	set := processortest.NewNopSettings(metadata.Type)
	sinkA, sinkB := new(consumertest.TracesSink), new(consumertest.TracesSink)
	a, err := f.CreateTraces(context.Background(), set, cfg, sinkA)
	require.NoError(t, err)
	b, err := f.CreateTraces(context.Background(), set, cfg, sinkB)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, a.Start(context.Background(), host))
	require.NoError(t, b.Start(context.Background(), host))
	require.NoError(t, a.ConsumeTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort))))
	require.NoError(t, b.Shutdown(context.Background()))
	require.NoError(t, a.Shutdown(context.Background()))
	assert.Equal(t, 1, sinkA.SpanCount(), "the span went in through A")
	assert.Zero(t, sinkB.SpanCount())
}

// newSinkFor makes a TracesSink p's held spans go to.
func newSinkFor(p *joinProcessor) *consumertest.TracesSink {
	sink := new(consumertest.TracesSink)
	p.setNextTraces(sink)
	return sink
}

// Issue 14 row 6: a batch joined at once (its window already covered)
// returns the downstream error to its caller.
func TestJoinedAtOnceReturnsDownstreamError(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.MaxClockSkew = time.Hour // the test's events are stamped at t0, not now
	set := processortest.NewNopSettings(metadata.Type)
	lp, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	tp, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewErr(errors.New("exporter down")))
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, lp.Start(context.Background(), host))
	require.NoError(t, tp.Start(context.Background(), host))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = lp.Shutdown(context.Background()) })
	require.NoError(t, lp.ConsumeLogs(context.Background(), eventLogs(steal(time.Second, ""))))
	err = tp.ConsumeTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.ErrorContains(t, err, "exporter down")
}
