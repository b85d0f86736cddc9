package isolationjoinprocessor

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

func TestHoldUntilEventsArrive(t *testing.T) {
	p, sink, _ := newTestProcessor(t, createDefaultConfig())
	hold(p)
	// Span first: nothing indexed yet, so it is held.
	_, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	p.sweep()
	require.Zero(t, sink.SpanCount(), "held until the watermark covers the window")
	assert.Equal(t, int64(1), p.pendingGauge.Load())

	// Its retransmit arrives, but the watermark (50ms) is short of end+slack (200ms).
	_, err = p.processLogs(context.Background(), eventLogs(retransmit(50*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil)))
	require.NoError(t, err)
	p.sweep()
	require.Zero(t, sink.SpanCount())

	// A later event on the node moves the watermark past the window.
	_, err = p.processLogs(context.Background(), eventLogs(kernelEvent{name: contract.EventCPUSteal, at: 300 * time.Millisecond, attrs: kv{contract.AttrCPUStealNs: 1}}))
	require.NoError(t, err)
	p.sweep()
	spans := sinkSpans(sink)
	require.Len(t, spans, 1)
	assert.Equal(t, "5tuple", attr(spans[0], attrJoin))
	assert.Equal(t, int64(1), attr(spans[0], attrRetransmits))
	assert.Nil(t, attr(spans[0], attrJoinIncomplete))
	assert.Zero(t, p.pendingGauge.Load())
}

func TestLateSpanJoinedAtOnce(t *testing.T) {
	p, sink, _ := newTestProcessor(t, createDefaultConfig())
	hold(p)
	_, err := p.processLogs(context.Background(), eventLogs(
		retransmit(50*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
		kernelEvent{name: contract.EventCPUSteal, at: time.Second, attrs: kv{contract.AttrCPUStealNs: 1}},
	))
	require.NoError(t, err)
	td, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.NoError(t, err, "the watermark covers the window: no holding")
	assert.Equal(t, "5tuple", attr(allSpans(td)[0], attrJoin))
	assert.Zero(t, sink.SpanCount())
}

func TestReleasedAtMaxDelayWhenEventsNeverCome(t *testing.T) {
	p, sink, clock := newTestProcessor(t, createDefaultConfig())
	hold(p)
	_, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	clock.Advance(2*time.Second - time.Nanosecond)
	p.sweep()
	require.Zero(t, sink.SpanCount(), "still inside max_delay")
	clock.Advance(time.Nanosecond)
	p.sweep()
	spans := sinkSpans(sink)
	require.Len(t, spans, 1)
	assert.Equal(t, "unmatched", attr(spans[0], attrJoin))
	assert.Equal(t, "max_delay", attr(spans[0], attrJoinIncomplete))
}

func TestBoundReleasesOldestUnjoined(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.MaxPendingSpans = 3
	p, sink, clock := newTestProcessor(t, cfg)
	hold(p)
	var batches []ptrace.Traces
	for i := range 3 {
		s := clientSpan(cliIP, cliPort+i, srvIP, srvPort)
		td := spanTraces(s, s) // two spans per batch
		batches = append(batches, td)
		_, err := p.processTraces(context.Background(), td)
		require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
		clock.Advance(time.Millisecond)
	}
	// 6 spans offered, bound 3: the first two batches (4 spans) left, oldest first.
	got := sink.AllTraces()
	require.Len(t, got, 2)
	assert.Equal(t, batches[0], got[0], "oldest batch first, whole")
	assert.Equal(t, batches[1], got[1])
	for _, s := range sinkSpans(sink) {
		assert.Equal(t, "unmatched", attr(s, attrJoin))
		assert.Equal(t, "max_pending_spans", attr(s, attrJoinIncomplete))
	}
	assert.Equal(t, int64(2), p.pendingGauge.Load())
}

func TestShutdownFlushesEverything(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.MaxPendingSpans = 1000
	p, sink, clock := newTestProcessor(t, cfg)
	hold(p)
	in := 0
	for i := range 50 {
		spans := make([]testSpan, 1+i%7)
		for j := range spans {
			spans[j] = clientSpan(cliIP, 1000+i*10+j, srvIP, srvPort)
			spans[j].start = time.Duration(i) * time.Millisecond
		}
		in += len(spans)
		_, err := p.processTraces(context.Background(), spanTraces(spans...))
		require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
		if i%10 == 0 {
			_, err = p.processLogs(context.Background(), eventLogs(retransmit(time.Duration(i)*time.Millisecond, cliIP, 1000+i*10, srvIP, srvPort, nil)))
			require.NoError(t, err)
		}
		clock.Advance(time.Millisecond)
	}
	require.Zero(t, sink.SpanCount())
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, in, sink.SpanCount(), "count in = count out")
	joined := 0
	for _, s := range sinkSpans(sink) {
		if attr(s, attrJoin) == "5tuple" {
			joined++
		}
	}
	assert.Equal(t, 5, joined, "flushed spans are joined with what arrived")
}

func TestReleaseLoopReleasesOnWatermark(t *testing.T) {
	// The real loop (Start) frees a held span when events move the
	// watermark; the test waits for the sink, it asserts no duration.
	p, sink, _ := newTestProcessor(t, createDefaultConfig())
	require.NoError(t, p.Start(context.Background(), nil))
	_, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	_, err = p.processLogs(context.Background(), eventLogs(
		retransmit(50*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
		kernelEvent{name: contract.EventCPUSteal, at: time.Second, attrs: kv{contract.AttrCPUStealNs: 1}},
	))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return sink.SpanCount() == 1 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, "5tuple", attr(sinkSpans(sink)[0], attrJoin))
	require.NoError(t, p.Shutdown(context.Background()))
}

// TestConcurrentPipelines drives both sides from several goroutines with
// the release loop running (run with -race): every span comes out once.
func TestConcurrentPipelines(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.MaxPendingSpans = 50 // the bound releases some, the loop and shutdown the rest
	p, sink, _ := newTestProcessor(t, cfg)
	require.NoError(t, p.Start(context.Background(), nil))
	var wg sync.WaitGroup
	var returned atomic.Int64
	const workers, batches = 4, 50
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range batches {
				s := clientSpan(cliIP, 1000+w*batches+i, srvIP, srvPort)
				s.start = time.Duration(i) * time.Millisecond
				td, err := p.processTraces(context.Background(), spanTraces(s, s))
				if err == nil {
					returned.Add(int64(td.SpanCount()))
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range batches {
				_, _ = p.processLogs(context.Background(), eventLogs(retransmit(time.Duration(i)*time.Millisecond, cliIP, 1000+w*batches+i, srvIP, srvPort, nil)))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, int64(workers*batches*2), returned.Load()+int64(sink.SpanCount()))
}
