package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// Held batches are forwarded long after their ConsumeTraces returned, so
// a downstream error cannot reach their sender: it is retried with
// backoff, then counted (spans_dropped, failure=refused). Batches joined
// at once return the error to the caller, as any processor does.
const (
	deliveryRetries = 3
	deliveryBackoff = 50 * time.Millisecond // doubled on each retry: 50+100+200 ms at most
	failureRefused  = "refused"
	failureShutdown = "shutdown"
)

// runContext is the context of deliveries outside Shutdown: it ends when
// a Shutdown's context does.
func (p *joinProcessor) runContext() context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runCtx == nil {
		return context.Background()
	}
	return p.runCtx
}

// Shutdown stops the release loop and flushes every held span downstream
// (the exporters shut down after the processors, so they still take them).
// A downstream that blocks cannot hold the collector's shutdown beyond ctx:
// the spans not delivered by then are counted (failure=shutdown).
func (p *joinProcessor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.holding = false
	stop, done, cancelRun := p.stop, p.done, p.cancelRun
	p.stop = nil
	p.mu.Unlock()
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		if stop != nil {
			close(stop)
			<-done
		}
		p.mu.Lock()
		out := p.takeAll()
		p.mu.Unlock()
		p.deliver(ctx, out)
	}()
	var err error
	select {
	case <-flushed:
	case <-ctx.Done():
		if cancelRun != nil {
			cancelRun()
		}
		// Batches still queued and the one blocked downstream: not
		// delivered by the deadline.
		if n := p.undelivered.Swap(0); n > 0 {
			p.countDropped(context.Background(), n, failureShutdown)
		}
		err = fmt.Errorf("isolation_join shutdown: held spans not flushed: %w", ctx.Err())
	}
	if cancelRun != nil {
		cancelRun()
	}
	p.tel.Shutdown()
	return err
}

// deliver hands released batches, in order, to the pipelines they came in
// by. It stops when ctx ends (Shutdown counts what is left).
func (p *joinProcessor) deliver(ctx context.Context, out []released) {
	for _, r := range out {
		if ctx.Err() != nil {
			return
		}
		p.send(ctx, r)
	}
}

// send forwards one batch, retrying a refusal that is not permanent.
func (p *joinProcessor) send(ctx context.Context, r released) {
	n := int64(r.td.SpanCount())
	if r.next == nil {
		p.logger.Error("isolation_join has held spans but no traces pipeline", zap.Int64("spans", n))
		p.finish(n, failureRefused)
		return
	}
	backoff := deliveryBackoff
	for attempt := 0; ; attempt++ {
		err := r.next.ConsumeTraces(r.ctx, r.td)
		if err == nil {
			p.finish(n, "")
			return
		}
		if consumererror.IsPermanent(err) || attempt == deliveryRetries {
			p.logger.Warn("next consumer refused released spans; dropped", zap.Int64("spans", n), zap.Int("attempts", attempt+1), zap.Error(err))
			p.finish(n, failureRefused)
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return // Shutdown counts it
		}
		backoff *= 2
	}
}

// finish ends the delivery of n spans; failure is "" when delivered.
func (p *joinProcessor) finish(n int64, failure string) {
	// After a cut-short Shutdown the counter was emptied and the spans
	// counted there: a late outcome is not counted twice.
	if p.undelivered.Add(-n) < 0 {
		p.undelivered.Store(0)
		return
	}
	if failure != "" {
		p.countDropped(context.Background(), n, failure)
	}
}

func (p *joinProcessor) countDropped(ctx context.Context, n int64, failure string) {
	p.tel.ProcessorIsolationJoinSpansDropped.Add(ctx, n, metric.WithAttributes(attribute.String("failure", failure)))
}
