// Log ingest: kernel-event records from the logs pipeline go into the index and the connection table.
package isolationjoinprocessor

import (
	"context"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/nodeid"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// processLogs indexes the kernel events and passes the logs on unchanged.
func (p *joinProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	var indexed, evicted, future int64
	// The watermarks only move forward and retention is measured from
	// them: one record stamped far ahead (a node whose clock runs ahead)
	// would expire every event and release held spans as if complete.
	// Only max_clock_skew past the collector's clock is believed.
	horizon := p.now().Add(p.cfg.MaxClockSkew).UnixNano()
	// Parse outside the lock, into one array per batch: one allocation for
	// all its events, which are evicted at about the same time anyway.
	var evs []kevent.Event
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		host := nodeid.Of(rl.Resource().Attributes())
		if host == "" {
			host = p.hostname
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				e, ok := kevent.FromRecord(host, lrs.At(k))
				if !ok {
					continue
				}
				if e.Time > horizon {
					future++
					continue
				}
				evs = append(evs, e)
			}
		}
	}
	// The index points into evs until its last event leaves: size it to
	// the kernel events, not to the batch (one event among 50k other
	// records must not pin an array of 50k).
	if cap(evs) > len(evs)+len(evs)/4 {
		evs = append(make([]kevent.Event, 0, len(evs)), evs...)
	}
	var connsEvicted int64
	// A watermark record promises that everything before it has arrived:
	// true of the records of this process's own receiver, handed over in
	// order, not of records forwarded over OTLP (an exporter's queue
	// sends batches concurrently and retries them out of order).
	inProcess := client.FromContext(ctx).Addr == nil
	p.mu.Lock()
	before := p.idx.Watermark()
	sentMoved := false
	batch := p.batchBuf[:0]
	for i := range evs {
		e := &evs[i]
		if e.Name == contract.EventWatermark {
			if inProcess {
				if p.idx.Sent(e.Host, e.Time) {
					sentMoved = true
				}
			} else {
				p.idx.Observe(e.Host, e.Time)
			}
			continue
		}
		idx, ce := p.track(e)
		connsEvicted += int64(ce)
		if !idx {
			p.idx.Observe(e.Host, e.Time)
			continue
		}
		batch = append(batch, e)
	}
	// One batch: late events are merged per key once, not shifted in one
	// by one (a node agent's late batch must not stall the traces side).
	evicted += int64(p.idx.AddBatch(batch))
	indexed += int64(len(batch))
	clear(batch)
	p.batchBuf = batch[:0]
	advanced := (p.idx.Watermark() > before || sentMoved) && len(p.pending) > 0
	p.connGauge.Store(int64(p.conns.Len()))
	p.mu.Unlock()
	if connsEvicted > 0 {
		p.tel.ProcessorIsolationJoinConnectionsEvicted.Add(ctx, connsEvicted)
	}
	if future > 0 {
		p.tel.ProcessorIsolationJoinEventsRejected.Add(ctx, future)
		p.logger.Debug("kernel events stamped beyond now + max_clock_skew not indexed", zap.Int64("events", future))
	}
	if indexed > 0 {
		p.tel.ProcessorIsolationJoinEventsIndexed.Add(ctx, indexed)
	}
	if evicted > 0 {
		p.tel.ProcessorIsolationJoinEventsEvicted.Add(ctx, evicted)
	}
	if advanced {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return ld, nil
}
