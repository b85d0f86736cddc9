// Holding: spans wait until the kernel events of their window have arrived (docs/design.md §5), bounded by max_delay and max_pending_spans; release hands them on.
package isolationjoinprocessor

import (
	"context"
	"iter"
	"slices"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/crosshair-otel/crosshair/internal/nodeid"
)

// heldBatch is one ConsumeTraces call waiting for its kernel events. It is
// held and released whole, so the spans of a trace that arrived together
// leave together and in order.
type heldBatch struct {
	ctx     context.Context
	td      ptrace.Traces
	next    consumer.Traces // the pipeline it came in by
	hosts   []string        // the nodes of its spans: each one's watermark must cover readyAt
	arrived time.Time
	readyAt int64 // the last span's end plus the slack
	// lateBy is how far past readyAt the watermark must be for the
	// records that arrive late (accepted sockets' owners): see covered.
	lateBy int64
	spans  int
}

func (p *joinProcessor) tick() time.Duration {
	return min(max(p.cfg.MaxDelay/10, 10*time.Millisecond), 100*time.Millisecond)
}

func (p *joinProcessor) releaseLoop(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(p.tick())
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-p.wake:
		}
		p.sweep()
	}
}

// sweep releases every held batch that is ready.
func (p *joinProcessor) sweep() {
	p.mu.Lock()
	out := p.takeReady()
	p.mu.Unlock()
	p.deliver(p.runContext(), out)
}

type released struct {
	ctx  context.Context
	td   ptrace.Traces
	next consumer.Traces
}

// takeReady joins and removes the batches whose windows the watermark
// covers or whose max_delay passed. Called with p.mu held.
func (p *joinProcessor) takeReady() []released {
	if len(p.pending) == 0 {
		return nil
	}
	now := p.now()
	var out []released
	kept := p.pending[:0]
	for _, b := range p.pending {
		switch {
		case p.covered(b.hosts, b.readyAt, b.lateBy):
			out = append(out, p.release(b, now, ""))
		case now.Sub(b.arrived) >= p.cfg.MaxDelay:
			out = append(out, p.release(b, now, releasedByTimeout))
		default:
			kept = append(kept, b)
		}
	}
	clear(p.pending[len(kept):])
	p.pending = kept
	p.pendingGauge.Store(int64(p.pendingSpans))
	return out
}

// takeAll joins and removes every held batch (shutdown). Called with p.mu held.
func (p *joinProcessor) takeAll() []released {
	now := p.now()
	out := make([]released, 0, len(p.pending))
	for _, b := range p.pending {
		reason := ""
		if !p.covered(b.hosts, b.readyAt, b.lateBy) {
			reason = releasedByShutdown
		}
		out = append(out, p.release(b, now, reason))
	}
	p.pending = nil
	p.pendingGauge.Store(0)
	return out
}

// release joins a held batch with what has arrived. reason is "" when the
// watermark covers it, else why it leaves early. Called with p.mu held.
func (p *joinProcessor) release(b *heldBatch, now time.Time, reason string) released {
	p.pendingSpans -= b.spans
	switch reason {
	case releasedByBound:
		p.markUnjoined(b.ctx, b.td)
	default:
		incomplete := ""
		switch reason {
		case releasedByTimeout:
			incomplete = incompleteMaxDelay
		case releasedByShutdown:
			incomplete = incompleteShutdown
		}
		p.joinTraces(b.ctx, b.td, incomplete, b.arrived)
	}
	if reason != "" {
		p.tel.ProcessorIsolationJoinSpansReleasedEarly.Add(b.ctx, int64(b.spans), metric.WithAttributes(attribute.String("reason", reason)))
	}
	p.tel.ProcessorIsolationJoinLatency.Record(b.ctx, now.Sub(b.arrived).Seconds())
	p.undelivered.Add(int64(b.spans))
	return released{ctx: b.ctx, td: b.td, next: b.next}
}

// covered reports whether every node in hosts has sent its records up to
// readyAt. A node whose receiver sends watermark records says so itself
// (index.SentOf): its late records, accepted sockets' owners and polled
// sums, are counted in. Otherwise the lateness is assumed: the node's
// watermark must pass readyAt by lateBy (the accept wait: records of
// accepted sockets' owners arrive late) and by the node's polling
// interval (a cgroup throttling record is stamped at the end of the
// interval it sums, so the interval that covers the span's end is waited
// for). Both are waits for the same watermark, so the longer covers the
// other: added, they held nearly every span of a stock resource on a node
// with polled records past max_delay. max_delay still bounds the wait.
// Called with p.mu held.
func (p *joinProcessor) covered(hosts []string, readyAt, lateBy int64) bool {
	for _, h := range hosts {
		if p.idx.SentOf(h) >= readyAt {
			// The node's receiver promised every record up to readyAt,
			// the late ones too: nothing more to wait for.
			continue
		}
		if p.idx.WatermarkOf(h) < readyAt+max(lateBy, p.idx.IntervalOf(h)) {
			return false
		}
	}
	return true
}

// listening drops from hosts the nodes that sent no kernel event within
// the retention (index.Covers): no evidence is coming for their spans —
// a node without a kernel agent, or one silent for the retention — and
// holding them would cost latency and memory for nothing. Not during the
// first max_delay of holding: this node's own receiver may not have sent
// its first batch yet. Reports whether it dropped any. Called with p.mu
// held.
func (p *joinProcessor) listening(hosts []string, now time.Time) ([]string, bool) {
	if p.holdingSince.IsZero() {
		p.holdingSince = now
	}
	if now.Sub(p.holdingSince) < p.cfg.MaxDelay {
		return hosts, false
	}
	kept := hosts[:0]
	for _, h := range hosts {
		if p.idx.Covers(h) {
			kept = append(kept, h)
		}
	}
	return kept, len(kept) < len(hosts)
}

// batchHosts is the distinct nodes of td's resources (k8s.node.name, else
// host.name, else this node), the keys of their watermarks.
func (p *joinProcessor) batchHosts(td ptrace.Traces) []string {
	var hosts []string
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		h := nodeid.Of(rss.At(i).Resource().Attributes())
		if h == "" {
			h = p.hostname
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func latestEnd(td ptrace.Traces) int64 {
	var end uint64
	for s := range spansOf(td) {
		end = max(end, uint64(s.EndTimestamp()), uint64(s.StartTimestamp()))
	}
	return clampNs(end)
}

func clampNs(t uint64) int64 {
	if t > 1<<62 {
		return 1 << 62
	}
	return int64(t)
}

// spansOf yields every span of a batch, in order.
func spansOf(td ptrace.Traces) iter.Seq[ptrace.Span] {
	return func(yield func(ptrace.Span) bool) {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					if !yield(spans.At(k)) {
						return
					}
				}
			}
		}
	}
}
