package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/internal/nodeid"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/classify"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/conntable"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/index"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/join"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/placement"
)

// Span attributes written by the processor (docs/design.md §4).
const (
	attrJoin           = "isolation.join"
	attrJoinIncomplete = "isolation.join.incomplete"
	attrCause          = "isolation.cause"
	attrRuntime        = "isolation.runtime"
	attrRuntimeStack   = "isolation.runtime.stack"
	attrRetransmits    = "kernel.tcp.retransmits"
	attrSrttUs         = "kernel.tcp.srtt_us"
	attrSKBDrops       = "kernel.skb.drops"
	attrThrottledMs    = "kernel.cgroup.cpu.throttled_ms"
	attrSchedDelayMs   = "kernel.sched.delay_ms"
	attrSyscallSlowMs  = "kernel.syscall.slow_ms"
	attrBlockIOSlowMs  = "kernel.block.io.slow_ms"
	attrEventTimeMs    = "kernel.time_ms"
	incompleteMaxDelay = "max_delay"
	incompleteMaxBound = "max_pending_spans"
	// incompleteShutdown marks spans the collector's shutdown released
	// before their window was covered.
	incompleteShutdown = "shutdown"
	// incompleteNoKernelEvents marks spans of nodes that sent no kernel
	// event within the retention: not held, nobody was looking.
	incompleteNoKernelEvents = "no_kernel_events"
	releasedNoKernelEvents   = "no_kernel_events"
	releasedByTimeout        = "timeout"
	releasedByBound          = "bound"
	releasedByShutdown       = "shutdown"
	placementCacheTTL        = 10 * time.Second
	placementCacheLimit      = 4096
	addrCacheLimit           = 4096
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
	lists        join.Memo             // the current resource's candidate lists (join.Resource.UseMemo)
	pools        poolMemos             // the current resource's pooled clients' candidates
	holding      bool                  // started: spans are held; before Start they are joined at once
	holdingSince time.Time             // the first batch that could be held: silent nodes are believed silent max_delay after it
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
	p.mu.Lock()
	lateBy := p.acceptWait(ctx, td)
	silent := false
	if p.holding && p.cfg.MaxDelay > 0 {
		hosts, silent = p.listening(hosts, p.now())
	}
	if silent && len(hosts) == 0 {
		// Nothing is coming for these spans: joined now, marked.
		p.joinTraces(ctx, td, incompleteNoKernelEvents, p.now())
		p.tel.ProcessorIsolationJoinLatency.Record(ctx, 0)
		p.mu.Unlock()
		p.tel.ProcessorIsolationJoinSpansReleasedEarly.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", releasedNoKernelEvents)))
		return td, nil
	}
	if !p.holding || p.cfg.MaxDelay == 0 || p.covered(hosts, readyAt, lateBy) {
		p.joinTraces(ctx, td, "", p.now())
		p.tel.ProcessorIsolationJoinLatency.Record(ctx, 0)
		p.mu.Unlock()
		return td, nil
	}
	// The caller's context ends when this call returns; its values
	// (client metadata) travel with the held spans.
	p.pending = append(p.pending, &heldBatch{ctx: context.WithoutCancel(ctx), td: td, next: next, hosts: hosts, arrived: p.now(), readyAt: readyAt, lateBy: lateBy, spans: n})
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
