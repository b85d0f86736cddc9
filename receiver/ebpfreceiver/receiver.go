package ebpfreceiver // import "github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/internal/bootclock"
	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/nodeid"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/probes"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/procinfo"
)

type ebpfReceiver struct {
	cfg      *Config
	settings receiver.Settings
	// disabled names the events turned off in the config (events:).
	disabled map[string]bool
	// node is read once at Start and stamped on every batch's resource
	// (host.name, and k8s.node.name on Kubernetes).
	node nodeid.Local
	// Set by the factory before Start; either may be nil when the receiver
	// is in no pipeline of that signal.
	nextLogs    consumer.Logs
	nextMetrics consumer.Metrics
	telemetry   *metadata.TelemetryBuilder

	// procs names the container of an event's process.
	procs *procinfo.Cache

	// Set by Start, cleared by Shutdown.
	probes  *probes.Set
	reader  *ringbuf.Reader // nil without BPF (only file-based probes)
	started bool
	done    chan struct{}
	wg      sync.WaitGroup
	// mark says how far the node's records have been sent.
	mark *watermark
}

func newReceiver(set receiver.Settings, cfg *Config) (*ebpfReceiver, error) {
	return &ebpfReceiver{cfg: cfg, settings: set}, nil
}

func (r *ebpfReceiver) Start(_ context.Context, host component.Host) error {
	clock, err := bootclock.New()
	if err != nil {
		return err
	}
	procs := procinfo.Default()
	r.procs = procs
	r.node = nodeid.FromEnv()
	r.disabled = disabledEvents(r.cfg.Events)
	hostOpts := r.cfg.HostConfig.options()
	hostOpts.Procs, hostOpts.Clock = procs, clock
	set, err := probes.Load(probes.Options{
		Enabled:             r.cfg.Probes,
		RingBufferBytes:     uint32(r.cfg.RingBufferSize),
		Logger:              r.settings.Logger,
		DropEventsPerSecond: uint32(r.cfg.SKBDropEventsPerSecond),
		DropIgnoreReasons:   r.cfg.SKBDropIgnoreReasons,
		AcceptOwnerHooks:    r.cfg.TCPAcceptOwnerHooks,
		ConntrackStatPath:   r.cfg.Conntrack.StatPath,
		Host:                hostOpts,
	})
	if err != nil {
		return fmt.Errorf("ebpf receiver: %w", err)
	}
	// No ring buffer without BPF: only the file-based probes run.
	var reader *ringbuf.Reader
	if set.Events != nil {
		if reader, err = ringbuf.NewReader(set.Events); err != nil {
			_ = set.Close()
			return fmt.Errorf("ebpf receiver: open ring buffer: %w", err)
		}
	}
	attached := int64(len(set.Attached()))
	tb, err := metadata.NewTelemetryBuilder(r.settings.TelemetrySettings)
	if err == nil {
		err = errors.Join(
			tb.RegisterReceiverEbpfEventsLostCallback(func(_ context.Context, o metric.Int64Observer) error {
				lost, err := set.LostByType()
				if err != nil {
					return err
				}
				for typ, n := range lost {
					o.Observe(int64(n), metric.WithAttributes(attribute.Int("event.type", int(typ))))
				}
				return nil
			}),
			tb.RegisterReceiverEbpfEventsMissedCallback(func(_ context.Context, o metric.Int64Observer) error {
				for name, a := range set.Attachments() {
					if a.Missed == nil {
						continue
					}
					for reason, n := range a.Missed() {
						o.Observe(n, metric.WithAttributes(attribute.String("probe", name), attribute.String("reason", reason)))
					}
				}
				return nil
			}),
			tb.RegisterReceiverEbpfProbesAttachedCallback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(attached)
				return nil
			}),
		)
	}
	if err != nil {
		if reader != nil {
			_ = reader.Close()
		}
		_ = set.Close()
		return fmt.Errorf("ebpf receiver: telemetry: %w", err)
	}
	r.probes, r.reader, r.telemetry = set, reader, tb
	r.done = make(chan struct{})
	// One line that says what this node watches, so a quiet node does not
	// look like a dead one: the probes running, and each skipped with why.
	skipped := make([]string, 0, len(set.Failed()))
	for name, perr := range set.Failed() {
		skipped = append(skipped, name+": "+perr.Error())
	}
	sort.Strings(skipped)
	r.settings.Logger.Info(fmt.Sprintf("ebpf receiver started: %d probes attached, %d skipped", attached, len(skipped)),
		zap.Strings("probes", set.Attached()), zap.Strings("skipped", skipped), zap.Int("ring_buffer_size", r.cfg.RingBufferSize))
	// A probe that did not attach leaves the receiver running but degraded:
	// a recoverable error in the component status API (health_check v2 and
	// the status reporters show it), after which the service does not mark
	// it OK. Start returns only once every probe attached or was skipped, so
	// health_check reports ready only after that.
	if len(skipped) > 0 {
		componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(
			fmt.Errorf("ebpf receiver degraded: %d of %d probes disabled: %s", len(skipped), len(skipped)+int(attached), strings.Join(skipped, "; "))))
	}

	r.started = true
	r.mark = &watermark{clock: clock}
	if reader != nil {
		r.wg.Add(1)
		go r.readLoop(&event.Decoder{Clock: clock, Names: set.Names(), Filter: r.cfg.Filters.matcher(), Procs: procs})
	}
	r.wg.Add(1)
	go r.pollLoop()
	if r.nextMetrics != nil {
		r.wg.Add(1)
		go r.metricsLoop(metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.settings))
	}
	// State from before the probes attached (established connections and
	// their owners), written to the ring buffer now that it is read.
	set.RunSnapshots(r.settings.Logger)
	return nil
}

// pollLoop runs the event sources that read files rather than hooks.
func (r *ebpfReceiver) pollLoop() {
	defer r.wg.Done()
	ticker := time.NewTicker(r.cfg.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-r.done:
			return
		case now := <-ticker.C:
			// The polled sums' next interval starts at now: the promise
			// goes no further (watermark).
			start := min(r.mark.pollStart(), now.UnixNano())
			logs := plog.NewLogs()
			records := r.newRecordSlice(logs)
			for name, a := range r.probes.Attachments() {
				if a.PollEvents == nil {
					continue
				}
				before := records.Len()
				if err := a.PollEvents(now, records); err != nil {
					r.settings.Logger.Warn("poll probe", zap.String("probe", name), zap.Error(err))
				}
				if n := records.Len() - before; n > 0 {
					r.telemetry.ReceiverEbpfEventsPolled.Add(context.Background(), int64(n), metric.WithAttributes(attribute.String("probe", name)))
				}
			}
			if r.reader == nil {
				// No ring buffer to wait for: the poll's records are all.
				r.mark.appendTo(records, start)
			}
			r.sendLogs(logs, records.Len())
			r.mark.polled(start)
		}
	}
}

// metricsLoop emits the probes' counters every MetricsInterval, and once
// more at shutdown so the last interval is not lost.
func (r *ebpfReceiver) metricsLoop(mb *metadata.MetricsBuilder) {
	defer r.wg.Done()
	ticker := time.NewTicker(r.cfg.MetricsInterval)
	defer ticker.Stop()
	emit := func() {
		now := pcommon.NewTimestampFromTime(time.Now())
		for name, a := range r.probes.Attachments() {
			if a.CollectMetrics == nil {
				continue
			}
			if err := a.CollectMetrics(now, mb); err != nil {
				r.settings.Logger.Warn("collect probe metrics", zap.String("probe", name), zap.Error(err))
			}
		}
		md := mb.Emit()
		r.appendHistograms(now, md)
		if md.DataPointCount() == 0 {
			return
		}
		if err := r.nextMetrics.ConsumeMetrics(context.Background(), md); err != nil {
			r.telemetry.ReceiverEbpfEventsRefused.Add(context.Background(), int64(md.DataPointCount()), metric.WithAttributes(attribute.String("signal", "metrics")))
			r.settings.Logger.Warn("next consumer refused kernel metrics; dropped", zap.Int("data_points", md.DataPointCount()), zap.Error(err))
		}
	}
	for {
		select {
		case <-r.done:
			emit()
			return
		case <-ticker.C:
			emit()
		}
	}
}

// appendHistograms adds the probes' in-kernel histograms to md, under the
// MetricsBuilder's resource and scope (mdatagen builds sums and gauges
// only, see probes/histogram.go).
func (r *ebpfReceiver) appendHistograms(now pcommon.Timestamp, md pmetric.Metrics) {
	var ms pmetric.MetricSlice
	for name, a := range r.probes.Attachments() {
		if a.CollectHistograms == nil {
			continue
		}
		if ms == (pmetric.MetricSlice{}) {
			if md.ResourceMetrics().Len() == 0 {
				sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
				sm.Scope().SetName(metadata.ScopeName)
			}
			rm := md.ResourceMetrics().At(0)
			if rm.ScopeMetrics().Len() == 0 {
				rm.ScopeMetrics().AppendEmpty().Scope().SetName(metadata.ScopeName)
			}
			ms = rm.ScopeMetrics().At(0).Metrics()
		}
		if err := a.CollectHistograms(now, ms); err != nil {
			r.settings.Logger.Warn("collect probe histograms", zap.String("probe", name), zap.Error(err))
		}
	}
}

// sendLogs hands a batch to the logs consumer, if there is one.
func (r *ebpfReceiver) sendLogs(logs plog.Logs, n int) {
	if len(r.disabled) > 0 && n > 0 {
		n = dropDisabled(logs, r.disabled)
	}
	if n == 0 || r.nextLogs == nil {
		return
	}
	if r.cfg.EventNameAttribute {
		addEventNameAttribute(logs)
	}
	if err := r.nextLogs.ConsumeLogs(context.Background(), logs); err != nil {
		r.telemetry.ReceiverEbpfEventsRefused.Add(context.Background(), int64(n), metric.WithAttributes(attribute.String("signal", "logs")))
		r.settings.Logger.Warn("next consumer refused kernel events; dropped", zap.Int("records", n), zap.Error(err))
	}
}

// readLoop drains the ring buffer into batches of log records, sending a
// batch when it is full or FlushInterval after its first record.
func (r *ebpfReceiver) readLoop(dec *event.Decoder) {
	defer r.wg.Done()
	ctx := context.Background()
	batch := plog.NewLogs()
	records := r.newRecordSlice(batch)
	var first time.Time
	// Decoded events are counted per batch and added to the telemetry at
	// flush: building the attribute option for every event was a
	// per-event allocation on the receiver's hottest path.
	type countKey struct {
		name string
		typ  event.Type
	}
	decoded := map[countKey]int64{}
	flush := func() {
		for k, n := range decoded {
			r.telemetry.ReceiverEbpfEventsDecoded.Add(ctx, n, metric.WithAttributes(attribute.String("event.name", k.name), attribute.String("probe", probes.ProbeOf(uint32(k.typ)))))
		}
		clear(decoded)
		if records.Len() == 0 {
			return
		}
		r.sendLogs(batch, records.Len())
		batch = plog.NewLogs()
		records = r.newRecordSlice(batch)
	}
	var rec ringbuf.Record
	for {
		// Never wait without a deadline: records submitted without a
		// wakeup (BPF_RB_NO_WAKEUP, e.g. kernel.tcp.established) are read
		// when the deadline passes.
		if records.Len() == 0 {
			r.reader.SetDeadline(time.Now().Add(r.cfg.FlushInterval))
		} else {
			r.reader.SetDeadline(first.Add(r.cfg.FlushInterval))
		}
		// Read before the ring buffer can be found empty: the walk of the
		// poll it names wrote its claims before (watermark).
		swept := r.mark.swept.Load()
		err := r.reader.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The ring buffer was read empty: after what is held here,
			// every record about anything up to the sweep has been sent.
			r.mark.appendTo(records, swept)
			flush()
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			flush()
			return
		case err != nil:
			r.settings.Logger.Warn("read ring buffer", zap.Error(err))
			continue
		}
		if records.Len() == 0 {
			first = time.Now()
		}
		typ, err := dec.Decode(rec.RawSample, records)
		if errors.Is(err, event.ErrFiltered) {
			continue
		}
		if err != nil {
			r.telemetry.ReceiverEbpfDecodeErrors.Add(ctx, 1, metric.WithAttributes(attribute.Int("event.type", int(typ)), attribute.String("probe", probes.ProbeOf(uint32(typ)))))
			r.settings.Logger.Debug("decode kernel event", zap.Error(err))
			continue
		}
		lr := records.At(records.Len() - 1)
		r.addProcessInfo(lr)
		decoded[countKey{name: lr.EventName(), typ: typ}]++
		if records.Len() >= r.cfg.MaxBatchSize {
			flush()
		}
	}
}

// addProcessInfo adds process.executable.name, and container.id and
// linux.cgroup.path unless the decoder resolved them from the event's own
// cgroup id, for the record's process, read from /proc/<pid> (cached).
func (r *ebpfReceiver) addProcessInfo(lr plog.LogRecord) {
	attrs := lr.Attributes()
	v, ok := attrs.Get(contract.AttrProcessPID)
	if !ok {
		return
	}
	info := r.procs.Lookup(uint32(v.Int()))
	if info.Executable != "" {
		attrs.PutStr(contract.AttrProcessExecutable, info.Executable)
	}
	if _, done := attrs.Get(contract.AttrCgroupPath); done {
		return
	}
	if info.CgroupPath != "" {
		attrs.PutStr(contract.AttrCgroupPath, info.CgroupPath)
	}
	if info.ContainerID != "" {
		attrs.PutStr(contract.AttrContainerID, info.ContainerID)
	}
}

func (r *ebpfReceiver) newRecordSlice(l plog.Logs) plog.LogRecordSlice {
	rl := l.ResourceLogs().AppendEmpty()
	node := r.node
	if !r.cfg.ResourceAttributes.HostName.Enabled {
		node.HostName = ""
	}
	if !r.cfg.ResourceAttributes.K8sNodeName.Enabled {
		node.K8sNodeName = ""
	}
	node.Stamp(rl.Resource().Attributes())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	return sl.LogRecords()
}

func (r *ebpfReceiver) Shutdown(context.Context) error {
	if !r.started {
		return nil
	}
	// Closing the reader unblocks ReadInto; the loop flushes what it holds.
	close(r.done)
	var err error
	if r.reader != nil {
		err = r.reader.Close()
	}
	r.wg.Wait()
	err = errors.Join(err, r.probes.Close())
	r.telemetry.Shutdown()
	r.probes, r.reader, r.telemetry, r.started = nil, nil, nil, false
	return err
}
