package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/nodeid"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/classify"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/conntable"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/index"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/join"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/placement"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/spankey"
)

// Span attributes written by the processor (docs/design.md §4).
const (
	attrJoin            = "isolation.join"
	attrJoinIncomplete  = "isolation.join.incomplete"
	attrCause           = "isolation.cause"
	attrRuntime         = "isolation.runtime"
	attrRuntimeStack    = "isolation.runtime.stack"
	attrRetransmits     = "kernel.tcp.retransmits"
	attrSrttUs          = "kernel.tcp.srtt_us"
	attrSKBDrops        = "kernel.skb.drops"
	attrThrottledMs     = "kernel.cgroup.cpu.throttled_ms"
	attrSchedDelayMs    = "kernel.sched.delay_ms"
	attrSyscallSlowMs   = "kernel.syscall.slow_ms"
	attrBlockIOSlowMs   = "kernel.block.io.slow_ms"
	attrEventTimeMs     = "kernel.time_ms"
	incompleteMaxDelay  = "max_delay"
	incompleteMaxBound  = "max_pending_spans"
	releasedByTimeout   = "timeout"
	releasedByBound     = "bound"
	placementCacheTTL   = 10 * time.Second
	placementCacheLimit = 4096
	addrCacheLimit      = 4096
)

// joinProcessor is the instance shared by the logs and traces pipelines of
// one component ID.
type joinProcessor struct {
	cfg        *Config
	logger     *zap.Logger
	tel        *metadata.TelemetryBuilder
	hostname   string
	now        func() time.Time
	classifier *classify.Classifier
	resolver   *placement.Resolver

	pid int64 // this collector's own process: its accepted OTLP/HTTP sockets lead to the senders

	mu           sync.Mutex // guards everything below
	idx          *index.Index
	conns        *conntable.Table
	connBuf      []*conntable.Conn // scratch of the table lookups
	acceptBuf    []*conntable.Conn
	otherEnds    []*conntable.Conn // the current span's connections' other ends
	refs         []join.ConnRef    // the current span's connections, for the join
	acceptLag    int64             // how late accepted sockets' records arrived (ns), at most max_delay
	pending      []*heldBatch      // arrival order
	pendingSpans int
	nextTraces   consumer.Traces
	scratch      []*kevent.Event
	batchBuf     []*kevent.Event       // the indexable events of one logs batch, reused
	attributed   []classify.Attributed // scratch of the verdicts
	addrs        map[netip.Addr]string // formatted peer addresses of span events
	tree         spanTree              // the batch's parent/child links, reused
	holding      bool                  // started: spans are held; before Start they are joined at once
	stop         chan struct{}         // non-nil while the release loop runs
	done         chan struct{}
	// runCtx ends when Shutdown's context does: it cuts the retries of
	// held batches short (delivery.go).
	runCtx    context.Context
	cancelRun context.CancelFunc

	pendingGauge atomic.Int64
	// undelivered counts the spans taken out of pending whose delivery
	// has not ended yet (delivery.go): what a cut-short Shutdown loses.
	undelivered atomic.Int64
	connGauge   atomic.Int64
	wake        chan struct{}
}

// heldBatch is one ConsumeTraces call waiting for its kernel events. It is
// held and released whole, so the spans of a trace that arrived together
// leave together and in order.
type heldBatch struct {
	ctx     context.Context
	td      ptrace.Traces
	next    consumer.Traces // the pipeline it came in by
	hosts   []string        // the nodes of its spans: each one's watermark must cover readyAt
	arrived time.Time
	readyAt int64 // watermark at which every span's window is covered
	spans   int
}

func newJoinProcessor(set processor.Settings, cfg *Config) (*joinProcessor, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("isolation_join telemetry: %w", err)
	}
	// The node's key: k8s.node.name on Kubernetes (where the host name is
	// this pod's), else the host name (internal/nodeid).
	hostname := nodeid.FromEnv().Name
	if hostname == "" {
		return nil, errors.New("isolation_join: no node name: K8S_NODE_NAME is unset and the host name unreadable")
	}
	fs := placement.FS{Root: "/"}
	node, err := fs.Node()
	if err != nil {
		// Placement is a label; the join works without it.
		set.Logger.Warn("node runtime detection failed", zap.Error(err))
	} else {
		set.Logger.Info("this node's placement (isolation layers under its processes): "+node.String(), zap.String("node.stack", node.String()))
	}
	p := &joinProcessor{
		cfg:        cfg,
		logger:     set.Logger,
		tel:        tel,
		hostname:   hostname,
		now:        time.Now,
		classifier: classify.New(cfg.rules(), cfg.Thresholds.classify()),
		idx:        index.New(cfg.MaxEvents, int64(cfg.Retention)),
		conns:      conntable.New(cfg.MaxConnections, int64(cfg.Retention)),
		pid:        int64(os.Getpid()),
		wake:       make(chan struct{}, 1),
		addrs:      map[netip.Addr]string{},
	}
	p.idx.SetMaxBytes(cfg.MaxEventsBytes)
	p.resolver = placement.NewResolver(fs, node, placementCacheTTL, placementCacheLimit, func() time.Time { return p.now() })
	if err := tel.RegisterProcessorIsolationJoinPendingSpansCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(p.pendingGauge.Load())
		return nil
	}); err != nil {
		tel.Shutdown()
		return nil, fmt.Errorf("isolation_join pending gauge: %w", err)
	}
	if err := tel.RegisterProcessorIsolationJoinConnectionsCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(p.connGauge.Load())
		return nil
	}); err != nil {
		tel.Shutdown()
		return nil, fmt.Errorf("isolation_join connections gauge: %w", err)
	}
	return p, nil
}

func (p *joinProcessor) setNextTraces(next consumer.Traces) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextTraces = next
}

// Start starts the release loop that frees held spans at max_delay or
// when the watermark covers them.
func (p *joinProcessor) Start(context.Context, component.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holding = true
	if p.stop != nil {
		return nil
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	if p.runCtx == nil {
		p.runCtx, p.cancelRun = context.WithCancel(context.Background())
	}
	go p.releaseLoop(p.stop, p.done)
	return nil
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
		case p.covered(b.hosts, b.readyAt):
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
		if !p.covered(b.hosts, b.readyAt) {
			reason = releasedByTimeout
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
		if reason == releasedByTimeout {
			incomplete = incompleteMaxDelay
		}
		p.joinTraces(b.ctx, b.td, incomplete, b.arrived)
	}
	if reason != "" {
		p.tel.ProcessorIsolationJoinSpansReleasedEarly.Add(b.ctx, int64(b.spans), metric.WithAttributes(attribute.String("reason", reason)))
	}
	p.tel.ProcessorIsolationJoinLatency.Record(b.ctx, float64(now.Sub(b.arrived))/float64(time.Millisecond))
	p.undelivered.Add(int64(b.spans))
	return released{ctx: b.ctx, td: b.td, next: b.next}
}

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
	p.mu.Lock()
	before := p.idx.Watermark()
	batch := p.batchBuf[:0]
	for i := range evs {
		e := &evs[i]
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
	advanced := p.idx.Watermark() > before && len(p.pending) > 0
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

// processTraces is processTracesTo the traces pipeline set last (tests).
func (p *joinProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	p.mu.Lock()
	next := p.nextTraces
	p.mu.Unlock()
	return p.processTracesTo(ctx, td, next)
}

// processTracesTo joins a batch at once when the watermark already covers
// it; otherwise holds it, to be released to next (the pipeline it came in
// by: one component ID may serve several), and tells processorhelper the
// data was consumed.
func (p *joinProcessor) processTracesTo(ctx context.Context, td ptrace.Traces, next consumer.Traces) (ptrace.Traces, error) {
	n := td.SpanCount()
	if n == 0 {
		return td, nil
	}
	readyAt := latestEnd(td) + int64(p.cfg.Slack)
	hosts := p.batchHosts(td)
	anonymous := anonymousSpans(td)
	p.mu.Lock()
	readyAt += p.acceptWait(anonymous)
	if !p.holding || p.cfg.MaxDelay == 0 || p.covered(hosts, readyAt) {
		p.joinTraces(ctx, td, "", p.now())
		p.tel.ProcessorIsolationJoinLatency.Record(ctx, 0)
		p.mu.Unlock()
		return td, nil
	}
	// The caller's context ends when this call returns; its values
	// (client metadata) travel with the held spans.
	p.pending = append(p.pending, &heldBatch{ctx: context.WithoutCancel(ctx), td: td, next: next, hosts: hosts, arrived: p.now(), readyAt: readyAt, spans: n})
	p.pendingSpans += n
	var out []released
	now := p.now()
	for p.pendingSpans > p.cfg.MaxPendingSpans && len(p.pending) > 0 {
		b := p.pending[0]
		p.pending[0] = nil
		p.pending = p.pending[1:]
		out = append(out, p.release(b, now, releasedByBound))
	}
	p.pendingGauge.Store(int64(p.pendingSpans))
	p.mu.Unlock()
	// Released in the caller's goroutine: a full pipeline slows the sender
	// instead of growing an unbounded queue here.
	p.deliver(p.runContext(), out)
	return td, processorhelper.ErrSkipProcessingData
}

// covered reports whether the watermark of every node in hosts passed
// readyAt plus that node's polling interval: a cgroup throttling record is
// stamped at the end of the interval it sums, so the interval that covers
// the span's end is waited for (max_delay still bounds the wait). Called
// with p.mu held.
func (p *joinProcessor) covered(hosts []string, readyAt int64) bool {
	for _, h := range hosts {
		if p.idx.WatermarkOf(h) < readyAt+p.idx.IntervalOf(h) {
			return false
		}
	}
	return true
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
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				end = max(end, uint64(s.EndTimestamp()), uint64(s.StartTimestamp()))
			}
		}
	}
	return clampNs(end)
}

func clampNs(t uint64) int64 {
	if t > 1<<62 {
		return 1 << 62
	}
	return int64(t)
}

// resourceInfo is what one resource contributes to its spans' join.
type resourceInfo struct {
	keys    spankey.Keys // resource part only
	netns   int64
	stack   placement.Stack
	inplace bool // stack known
	// The stack's attribute values, formatted once for all the resource's spans.
	innermost, stackStr string
	lists               join.Resource // the index's lists of the process and node
	// identity says how the process was found when the resource did not
	// name it (identityOTLPSender, identityServerPeer); "" otherwise.
	identity string
	comm     string // the local process's comm, when the resource names a pid
}

func (p *joinProcessor) resource(res pcommon.Map) resourceInfo {
	var ri resourceInfo
	ri.keys = spankey.FromResource(res)
	if ri.keys.Host == "" {
		ri.keys.Host = p.hostname
	}
	if ri.keys.Host != p.hostname {
		return ri // another node's process: /proc here knows nothing of it
	}
	p.place(&ri)
	if ri.inplace && ri.keys.PID > 0 && foreignPID(res, ri.comm) {
		// The SDK's pid is from another pid namespace (a container's, or a
		// gVisor sandbox's, where the service is pid 1): this node's process
		// of that number is someone else. Identify it like a resource
		// without a pid (OTLP sender, server socket).
		ri = resourceInfo{keys: spankey.FromResource(res)}
		ri.keys.Host, ri.keys.PID = p.hostname, 0
	}
	return ri
}

// foreignPID reports a resource whose process.executable.name is not the
// name of the local process with its process.pid (comm: the first 15
// bytes of the executable's name).
func foreignPID(res pcommon.Map, comm string) bool {
	v, ok := res.Get(contract.AttrProcessExecutable)
	if !ok || v.Str() == "" || comm == "" {
		return false
	}
	name := v.Str()
	if len(name) > 15 {
		name = name[:15]
	}
	return name != comm
}

// place adds what /proc says of the resource's process (on this node):
// its cgroups, container, pod, network namespace and runtime stack.
func (p *joinProcessor) place(ri *resourceInfo) {
	switch {
	case ri.keys.PID > 0:
		if proc, ok := p.resolver.Process(ri.keys.PID); ok {
			ri.comm = proc.Comm
			ri.netns = proc.Netns
			ri.stack, ri.inplace = proc.Stack, true
			ri.keys.CgroupPath = proc.CgroupPath
			ri.keys.CPUCgroupPath, ri.keys.V2CgroupPath = proc.CPUCgroupPath, proc.V2CgroupPath
			if ri.keys.ContainerID == "" {
				ri.keys.ContainerID = proc.Cgroup.ContainerID
			}
			if ri.keys.PodUID == "" {
				ri.keys.PodUID = proc.Cgroup.PodUID
			}
		}
	case ri.keys.ContainerID != "" || ri.keys.PodUID != "":
		// A container on this node whose pid the SDK did not report.
		ri.stack = append(placement.Stack{{Layer: contract.LayerL3, Name: "container"}}, p.resolver.Node()...)
		ri.inplace = true
	}
	if ri.inplace {
		ri.innermost, ri.stackStr = ri.stack.Innermost(), ri.stack.String()
	}
}

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
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				a := spans.At(k).Attributes()
				a.PutStr(attrJoin, join.QualityUnmatched)
				a.PutStr(attrJoinIncomplete, incompleteMaxBound)
			}
		}
	}
	p.countJoined(ctx, [5]int64{4: int64(td.SpanCount())})
}

// joinSpan joins one span and writes the verdict. Called with p.mu held.
// n is the span's position in the batch (p.tree's node).
func (p *joinProcessor) joinSpan(ri *resourceInfo, span ptrace.Span, n int, incomplete string) string {
	keys := spankey.FromSpan(ri.keys, span)
	start, end := clampNs(uint64(span.StartTimestamp())), clampNs(uint64(span.EndTimestamp()))
	if end < start {
		end = start
	}
	// A span without a start time (or one older than the retention) would
	// join against the whole index: its window starts within the
	// retention before its end.
	if start == 0 {
		start = end
	}
	start = max(start, end-int64(p.cfg.Retention))
	slack := int64(p.cfg.Slack)
	from, to := start-slack, end+slack
	if ri.identity == "" && ri.needsIdentity(p.hostname) {
		// A server span's socket, found by its peer endpoint, names the
		// process for the whole resource.
		if c := p.serverOwner(&keys, from, to); c != nil {
			p.adopt(ri, c, identityServerPeer)
			ri.lists = join.PrepareAfter(p.idx, &ri.keys, nil)
			keys = spankey.FromSpan(ri.keys, span)
		}
	}
	conns, connQuality := p.spanConns(&keys, from, to)
	res := join.JoinPrepared(p.idx, &ri.lists, join.Span{Keys: keys, Netns: ri.netns, From: from, To: to, Late: p.idx.IntervalOf(keys.Host), Conns: conns, ConnQuality: connQuality, Start: start, End: end}, p.scratch)
	p.scratch = res.Events[:0]
	if connQuality == join.QualityPeer {
		res.Events = p.oneCandidate(res.Events, conns, start, end)
	}
	res.Events = p.tree.innermost(n, res.Events)

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
				ioLayer = contract.LayerL2
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
		n += 2 + v.Evidence.NonZero()
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

func putMs(a pcommon.Map, k string, ms float64) {
	if ms > 0 {
		a.PutDouble(k, ms)
	}
}

// peerOnThisNode applies the last rule of docs/design.md §5: loss with no local drop
// is the path's ("network") unless the peer is on this node, in which case
// it is the peer's layer. The peer is on this node when an event of the
// other end of the connection (its local side is the span's peer) came
// from this node with a pid /proc knows. Only a container or sandbox
// boundary (L3, L4) around the peer is taken as its layer: for a peer
// running directly on the node, loss between two local sockets is not the
// hypervisor's or the virtio device's, so the verdict stays network and
// the cause says where the peer is.
func (p *joinProcessor) peerOnThisNode(v *classify.Verdict, keys spankey.Keys, events []*kevent.Event, otherEnds []*conntable.Conn) {
	// The other ends the connection table found (across a DNAT too),
	// then the events whose local side is the span's peer.
	for _, c := range otherEnds {
		if c.Host == p.hostname && c.PID > 0 && p.peerLayer(v, c.Local, c.PID) {
			return
		}
	}
	if !keys.Peer.IsValid() {
		return
	}
	for _, e := range events {
		if e.Local != keys.Peer || e.Host != p.hostname || e.PID <= 0 {
			continue
		}
		if p.peerLayer(v, keys.Peer, e.PID) {
			return
		}
	}
}

// peerLayer rewrites v for a peer at ep run by pid on this node; false
// when /proc does not know pid.
func (p *joinProcessor) peerLayer(v *classify.Verdict, ep netip.AddrPort, pid int64) bool {
	proc, ok := p.resolver.Process(pid)
	if !ok {
		return false
	}
	where := proc.Stack.String()
	if l := proc.Stack.Innermost(); l == contract.LayerL3 || l == contract.LayerL4 {
		v.Layer = l
		v.Cause = l + " (peer " + ep.String() + " on this node, " + where + "): " + v.Cause
		return true
	}
	v.Cause += "; peer " + ep.String() + " is on this node (" + where + ")"
	return true
}

// noisyNeighbour names, in the cause of a span slowed by a virtio-backed
// disk, the cgroup with the most slow IO on that disk during the span when
// it is not the span's own: the neighbour whose IO fills the shared queue.
// Called with p.mu held.
func (p *joinProcessor) noisyNeighbour(v *classify.Verdict, keys *spankey.Keys, start, end int64, disk string) {
	dev := ""
	for _, at := range v.Events {
		if classify.VirtioBacked(at.Event) {
			dev = index.BlockDevice(at.Event)
			break
		}
	}
	if dev == "" {
		dev = disk
	}
	if dev == "" {
		return
	}
	type load struct {
		cgroup string
		ns     int64
	}
	var buf [8]load
	loads := buf[:0]
	reach := end + max(int64(p.cfg.Slack), 0)
	// The neighbour's requests on the disk, and its slow IO syscalls on
	// the node (its fsyncs wait for the same queue; they show the cgroup
	// when its requests are below the receiver's block_io threshold).
	for _, w := range [...]index.Entries{p.idx.ByDevice(keys.Host, dev, start, reach), p.idx.IOWaits(keys.Host, start, reach)} {
		for i := 0; i < w.Len(); i++ {
			e := w.At(i)
			cg := e.CgroupPath
			if cg == "" || cg == "/" || cg == keys.CgroupPath || cg == keys.CPUCgroupPath || cg == keys.V2CgroupPath {
				continue
			}
			ov := min(e.Time, end) - max(e.Time-e.DurationNs, start)
			if ov <= 0 {
				continue
			}
			j := 0
			for j < len(loads) && loads[j].cgroup != cg {
				j++
			}
			if j == len(loads) {
				loads = append(loads, load{cgroup: cg})
			}
			loads[j].ns += ov
		}
	}
	best := -1
	for j := range loads {
		if best < 0 || loads[j].ns > loads[best].ns {
			best = j
		}
	}
	if best >= 0 {
		v.Cause += "; noisy neighbour " + loads[best].cgroup + " (slow io on " + dev + ")"
	}
}

// hasIOSyscall reports a slow IO syscall body among events.
func hasIOSyscall(events []*kevent.Event) bool {
	for _, e := range events {
		if classify.IOSyscall(e) {
			return true
		}
	}
	return false
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

// addrString formats a peer address for a span event. The same peers recur
// span after span: their strings are shared (strings are immutable, so
// many spans may point at one) instead of formatted and allocated each
// time. Bounded: cleared when full. Called with p.mu held.
func (p *joinProcessor) addrString(a netip.Addr) string {
	if s, ok := p.addrs[a]; ok {
		return s
	}
	if len(p.addrs) >= addrCacheLimit {
		clear(p.addrs)
	}
	s := a.String()
	p.addrs[a] = s
	return s
}
