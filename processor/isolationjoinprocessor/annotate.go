// Join orchestration and output: each span is joined, classified and written (attributes, span events, counters).
package isolationjoinprocessor

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/classify"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/conntable"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/join"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/spankey"
)

// joinTraces tags every span of td. Called with p.mu held.
func (p *joinProcessor) joinTraces(ctx context.Context, td ptrace.Traces, incomplete string, arrived time.Time) {
	var counts [5]int64
	var identified identityCounts
	rss := td.ResourceSpans()
	p.tree.build(rss, p.hostname)
	defer p.tree.reset()
	n := 0
	var prev join.Host
	var sender *conntable.Conn
	senderLooked := false
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		ri := p.resource(rs.Resource().Attributes())
		if ri.needsIdentity(p.hostname) {
			// The batch's sender, looked up once per batch.
			if !senderLooked {
				sender, senderLooked = p.senderOwner(ctx, arrived), true
			}
			if sender != nil {
				p.adopt(&ri, sender, identityOTLPSender)
			}
		}
		if i == 0 {
			ri.lists = join.Prepare(p.idx, &ri.keys)
		} else {
			ri.lists = join.PrepareAfter(p.idx, &ri.keys, &prev)
		}
		prev = ri.lists.Host(ri.keys.Host)
		ri.lists.UseMemo(&p.lists)
		p.pools.reset(rs)
		ri.late = p.idx.IntervalOf(ri.keys.Host)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				q := p.joinSpan(&ri, spans.At(k), n, incomplete)
				counts[qualityIndex(q)]++
				identified.add(ri.identity)
				n++
			}
		}
	}
	p.countJoined(ctx, counts)
	identified.record(ctx, p.tel)
}

func (p *joinProcessor) countJoined(ctx context.Context, counts [5]int64) {
	for i, c := range counts {
		if c > 0 {
			p.tel.ProcessorIsolationJoinSpansJoined.Add(ctx, c, metric.WithAttributes(attribute.String("match", join.Qualities[i])))
		}
	}
}

func qualityIndex(q string) int {
	for i, s := range join.Qualities {
		if s == q {
			return i
		}
	}
	return len(join.Qualities) - 1
}

// markUnjoined tags a batch released by the bound before its evidence
// could be looked at. Called with p.mu held.
func (p *joinProcessor) markUnjoined(ctx context.Context, td ptrace.Traces) {
	for s := range spansOf(td) {
		a := s.Attributes()
		a.PutStr(attrJoin, join.QualityUnmatched)
		a.PutStr(attrJoinIncomplete, incompleteMaxBound)
	}
	p.countJoined(ctx, [5]int64{4: int64(td.SpanCount())})
}

// joinSpan joins one span and writes the verdict. Called with p.mu held.
// n is the span's position in the batch (p.tree's node).
func (p *joinProcessor) joinSpan(ri *resourceInfo, span ptrace.Span, n int, incomplete string) string {
	keys := spankey.FromSpan(ri.keys, span)
	w := p.windowOf(span)
	start, end, from, to := w.start, w.end, w.from, w.to
	if ri.identity == "" && ri.needsIdentity(p.hostname) {
		// A server span's socket, found by its peer endpoint, names the
		// process for the whole resource.
		if c := p.serverOwner(&keys, from, to); c != nil {
			p.adopt(ri, c, identityServerPeer)
			ri.lists = join.PrepareAfter(p.idx, &ri.keys, nil)
			ri.lists.UseMemo(&p.lists)
			p.pools.reset(p.pools.rs) // memoized for the process it had before
			keys = spankey.FromSpan(ri.keys, span)
		}
	}
	conns, connQuality := p.candidateConns(&keys, from, to)
	res := join.JoinPrepared(p.idx, &ri.lists, join.Span{Keys: keys, Netns: ri.netns, From: from, To: to, Late: ri.late, Conns: conns, ConnQuality: connQuality, Start: start, End: end}, p.scratch)
	p.scratch = res.Events[:0]
	if connQuality == join.QualityPeer {
		res.Events = p.oneCandidate(res.Events, conns, start, end)
	}
	res.Events = p.tree.innermost(n, span, res.Events)

	var v classify.Verdict
	n = 1 // isolation.join
	if incomplete != "" {
		n++
	}
	if ri.inplace {
		n += 2
	}
	if res.Quality != join.QualityUnmatched {
		// A span whose process waited in fsync (or the like) while the
		// node's virtio disk was slow waited for that disk: its IO
		// syscall time is the disk's layer (docs/design.md §5, virtio-blk queue
		// latency; a loop device counts as its backing disk).
		ioLayer, disk := "", ""
		if hasIOSyscall(res.Events) {
			// The disk's congestion is a state, its slow requests
			// complete in bursts: one within the slack of the span says
			// the queue was full while it ran.
			slack := max(int64(p.cfg.Slack), 0)
			if disk = p.idx.VirtioDisk(keys.Host, start-slack, end+slack, int64(time.Second), int64(p.cfg.Thresholds.MinBlockLatency)); disk != "" {
				ioLayer = layers.SlowVirtioDisk
			}
		}
		v = p.classifier.VerdictIO(res.Events, start, end, p.attributed, ioLayer)
		p.attributed = v.Events[:0]
		if v.Layer == contract.LayerNetwork {
			p.peerOnThisNode(&v, keys, res.Events, p.otherEnds)
		}
		if v.Layer == contract.LayerL2 && (v.Evidence.BlockIOSlowMs > 0 || disk != "") {
			p.noisyNeighbour(&v, &keys, start, end, disk)
		}
		n += 2
		if p.withEvidence(&v) {
			n += v.Evidence.NonZero()
		}
	}
	a := span.Attributes()
	// Exactly one growth of the span's attributes, to what is written below.
	a.EnsureCapacity(a.Len() + n)
	a.PutStr(attrJoin, res.Quality)
	if incomplete != "" {
		a.PutStr(attrJoinIncomplete, incomplete)
	}
	if ri.inplace {
		a.PutStr(attrRuntime, ri.innermost)
		a.PutStr(attrRuntimeStack, ri.stackStr)
	}
	if res.Quality == join.QualityUnmatched {
		clear(res.Events)
		return res.Quality
	}
	a.PutStr(contract.AttrIsolationLayer, v.Layer)
	a.PutStr(attrCause, v.Cause)
	if !p.withEvidence(&v) {
		clear(res.Events)
		clear(v.Events)
		return res.Quality
	}
	ev := &v.Evidence
	if ev.Retransmits > 0 {
		a.PutInt(attrRetransmits, ev.Retransmits)
	}
	if ev.SrttUs > 0 {
		a.PutInt(attrSrttUs, ev.SrttUs)
	}
	if ev.SKBDrops > 0 {
		a.PutInt(attrSKBDrops, ev.SKBDrops)
	}
	putMs(a, attrThrottledMs, ev.ThrottledMs)
	putMs(a, attrSchedDelayMs, ev.SchedDelayMs)
	putMs(a, attrSyscallSlowMs, ev.SyscallSlowMs)
	putMs(a, attrBlockIOSlowMs, ev.BlockIOSlowMs)
	if m := min(len(v.Events), p.cfg.MaxSpanEvents); m > 0 {
		ses := span.Events()
		// A span joined before (a node agent's join, then a gateway's)
		// already carries some of these kernel events.
		prior := ses.Len()
		ses.EnsureCapacity(prior + m)
		for _, at := range v.Events[:m] {
			if prior == 0 || !hasSpanEvent(ses, prior, at.Event) {
				p.addSpanEvent(ses, at, keys.Peer)
			}
		}
	}
	// Drop the pointers so the scratch slices do not pin evicted events.
	clear(res.Events)
	clear(v.Events)
	return res.Quality
}

// withEvidence reports whether the span of verdict v gets its evidence
// sums and span events written (Config.EvidenceOnAppSpans).
func (p *joinProcessor) withEvidence(v *classify.Verdict) bool {
	return v.Layer != contract.LayerApp || p.cfg.EvidenceOnAppSpans
}

func putMs(a pcommon.Map, k string, ms float64) {
	if ms > 0 {
		a.PutDouble(k, ms)
	}
}

// addSpanEvent records one joined kernel event on the span, stamped with
// the kernel's time. spanPeer is the peer endpoint the span's own
// attributes name (invalid when they name none). Called with p.mu held.
func (p *joinProcessor) addSpanEvent(ses ptrace.SpanEventSlice, at classify.Attributed, spanPeer netip.AddrPort) {
	e := at.Event
	se := ses.AppendEmpty()
	se.SetName(e.Name)
	se.SetTimestamp(pcommon.Timestamp(e.Time))
	// The socket's peer tells which end saw the event. When it is the
	// peer the span already names, the span's own socket saw it: writing
	// it again would repeat the span's attributes (two values per event,
	// the most frequent allocation of the join's output).
	withPeer := e.Peer.IsValid() && e.Peer != spanPeer
	n := 1
	if at.TimeNs > 0 {
		n++
	}
	if withPeer {
		n += 2
	}
	d := e.Detail
	if d != nil {
		for _, s := range [...]string{d.DropReason, d.SyscallName, d.SyscallPhase, d.BlockDevice, d.Interface} {
			if s != "" {
				n++
			}
		}
	}
	a := se.Attributes()
	a.EnsureCapacity(n)
	a.PutStr(contract.AttrIsolationLayer, at.Layer)
	if at.TimeNs > 0 {
		a.PutDouble(attrEventTimeMs, float64(at.TimeNs)/1e6)
	}
	// The local side and the pid would repeat the span's too.
	if withPeer {
		a.PutStr(contract.AttrNetworkPeerAddress, p.addrString(e.Peer.Addr()))
		a.PutInt(contract.AttrNetworkPeerPort, int64(e.Peer.Port()))
	}
	if d == nil {
		return
	}
	for _, kv := range [...][2]string{
		{contract.AttrSKBDropReason, d.DropReason},
		{contract.AttrSyscallName, d.SyscallName},
		{contract.AttrSyscallPhase, d.SyscallPhase},
		{contract.AttrBlockDevice, d.BlockDevice},
		{contract.AttrNetworkInterface, d.Interface},
	} {
		if kv[1] != "" {
			a.PutStr(kv[0], strings.Clone(kv[1]))
		}
	}
}

// hasSpanEvent reports whether the first n events of ses record e (same
// name, same kernel time).
func hasSpanEvent(ses ptrace.SpanEventSlice, n int, e *kevent.Event) bool {
	for i := range n {
		se := ses.At(i)
		if int64(se.Timestamp()) == e.Time && se.Name() == e.Name {
			return true
		}
	}
	return false
}
