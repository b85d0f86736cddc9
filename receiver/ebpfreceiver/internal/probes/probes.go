package probes

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// Names of the maps every program shares (bpf/common.h).
const (
	mapEvents     = "events"
	mapEventsLost = "events_lost"
	mapSockOwners = "sock_owners"
)

// Probe is one named piece of kernel instrumentation: a BPF object and the
// hooks its programs attach to.
type Probe struct {
	// Name is what users write under `probes:` in the config.
	Name string
	// Hooks names the kernel hooks, for log lines and docs.
	Hooks []string
	// Files is set for a probe that only reads files (no BPF): it runs
	// without CAP_BPF and CAP_PERFMON.
	Files bool
	// attach loads the object with the shared maps and attaches its
	// programs (or, for file-based sources, opens them).
	attach func(env *attachEnv) (*Attachment, error)
}

// attachEnv is what every probe's attach gets.
type attachEnv struct {
	// opts carries the shared maps as MapReplacements.
	opts *ebpf.CollectionOptions
	// prepare adjusts a spec before load (sizes the shared ring buffer).
	prepare func(*ebpf.CollectionSpec)
	logger  *zap.Logger
	// options is what Load was given; names the kernel's enum names.
	options Options
	names   *KernelNames
	// host configures the host-side probes (defaults filled in).
	host *HostOptions
}

// now is the start time of cumulative metrics built outside the
// MetricsBuilder (histograms).
func (env *attachEnv) now() time.Time { return time.Now() }

// load reads spec, prepares it and loads it into objs with the shared maps.
func (env *attachEnv) load(name string, spec *ebpf.CollectionSpec, err error, objs any) error {
	if err != nil {
		return fmt.Errorf("read embedded object %s: %w", name, err)
	}
	env.prepare(spec)
	if err := spec.LoadAndAssign(objs, env.opts); err != nil {
		return fmt.Errorf("load %s: %w", name, err)
	}
	return nil
}

// Attachment is a running probe.
type Attachment struct {
	// closers release the probe, links first.
	closers []io.Closer
	// CollectMetrics, when set, reads the probe's counters (kernel maps or
	// files) into mb. The receiver calls it every metrics_interval.
	CollectMetrics func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error
	// CollectHistograms, when set, appends the probe's in-kernel histograms
	// to ms (mdatagen's builder has no histogram type; see histogram.go).
	CollectHistograms func(now pcommon.Timestamp, ms pmetric.MetricSlice) error
	// PollEvents, when set, is the event source of a probe that reads files
	// rather than hooks (conntrack, cgroup cpu.stat, /proc/stat): it appends
	// the events seen since the last call. The receiver calls it every
	// poll_interval.
	PollEvents func(now time.Time, logs plog.LogRecordSlice) error
	// Snapshot, when set, reports state that existed before the probe
	// attached (the TCP connections already established) through the ring
	// buffer, and returns how many items it found. Set.RunSnapshots calls
	// it once, after the receiver started reading.
	Snapshot func() (int, error)
	// Missed, when set, reports the events a file-based probe could not
	// observe so far, by reason (cumulative).
	Missed func() map[string]int64
}

// All lists every probe the receiver knows, in attach order.
func All() []Probe {
	return append([]Probe{
		{Name: "tcp_retransmit", Hooks: []string{"tp_btf/tcp_retransmit_skb", "tp_btf/tcp_cong_state_set"}, attach: attachTCPRetransmit},
		{Name: "tcp_connection", Hooks: []string{"tracepoint/sock/inet_sock_set_state", "iter/task_file", "tp_btf/sock_recv_length (tcp_accept_owner_hooks)", "tp_btf/sock_send_length (tcp_accept_owner_hooks)"}, attach: attachTCPConnection},
		{Name: "tcp_reset", Hooks: []string{"tracepoint/tcp/tcp_send_reset", "tracepoint/tcp/tcp_receive_reset"}, attach: attachTCPReset},
		{Name: "skb_drop", Hooks: []string{"tracepoint/skb/kfree_skb"}, attach: attachSKBDrop},
		{Name: "net_tx_timeout", Hooks: []string{"tracepoint/net/net_dev_xmit_timeout"}, attach: attachNetTxTimeout},
		{Name: "conntrack", Hooks: []string{DefaultConntrackStatPath}, Files: true, attach: attachConntrack},
	}, hostProbes()...)
}

// Names returns the names of All probes.
func Names() []string {
	var names []string
	for _, p := range All() {
		names = append(names, p.Name)
	}
	return names
}

// Options selects and sizes what Load sets up.
type Options struct {
	// Enabled names the probes to load; empty means all.
	Enabled []string
	// RingBufferBytes is the shared ring buffer's size (a power of two,
	// multiple of the page size).
	RingBufferBytes uint32
	Logger          *zap.Logger
	// DropEventsPerSecond bounds kernel.skb.drop events per CPU (0: the
	// default); the drop counters are not limited.
	DropEventsPerSecond uint32
	// DropIgnoreReasons are skb_drop_reason names (without the
	// SKB_DROP_REASON_ prefix) that make no kernel.skb.drop event; the
	// kernel.skb.drops counter still counts them. Filtered in the kernel.
	DropIgnoreReasons []string
	// AcceptOwnerHooks attaches tp_btf/sock_recv_length and
	// sock_send_length so an accepted socket is named at its first send or
	// receive; off, it is named by a periodic walk or at its close.
	AcceptOwnerHooks bool
	// classicRetransmit loads the tcp_retransmit fallback (classic
	// tracepoint, no wait) as if tp_btf had failed; for tests.
	classicRetransmit bool
	// ConntrackStatPath overrides DefaultConntrackStatPath.
	ConntrackStatPath string
	// Host configures the host-side probes; nil takes the defaults.
	Host *HostOptions
}

// Set is the loaded probes and the maps they share.
type Set struct {
	// Events is the shared ring buffer.
	Events *ebpf.Map
	// EventsLost counts failed ring-buffer reservations per CPU and event type.
	EventsLost *ebpf.Map

	owners      *ebpf.Map
	names       *KernelNames
	attachments map[string]*Attachment
	attached    []string
	failed      map[string]error
}

// Load creates the shared maps and loads and attaches every enabled probe. A
// probe that fails to load or attach is logged once and skipped; Load fails
// only when none attaches.
func Load(opts Options) (*Set, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones use
	// memcg and this is a no-op.
	if err := rlimit.RemoveMemlock(); err != nil {
		opts.Logger.Debug("could not raise RLIMIT_MEMLOCK", zap.Error(err))
	}

	s := &Set{failed: map[string]error{}, attachments: map[string]*Attachment{}}
	// Without BPF (no CAP_BPF, CAP_PERFMON) the probes that read files
	// still run; every other one is disabled with the reason.
	bpfErr := s.createSharedMaps(opts.RingBufferBytes)
	if bpfErr != nil {
		bpfErr = explainBPFError(bpfErr)
	}
	replacements := map[string]*ebpf.Map{
		mapEvents:     s.Events,
		mapEventsLost: s.EventsLost,
		mapSockOwners: s.owners,
	}
	prepare := func(spec *ebpf.CollectionSpec) {
		if m, ok := spec.Maps[mapEvents]; ok {
			m.MaxEntries = opts.RingBufferBytes
		}
	}

	names, err := LoadKernelNames()
	if err != nil {
		opts.Logger.Info("kernel enum names unavailable: drop and reset reasons are reported as numbers", zap.Error(err))
	}
	s.names = names

	host := opts.Host.withDefaults()
	for _, p := range All() {
		if len(opts.Enabled) > 0 && !slices.Contains(opts.Enabled, p.Name) {
			continue
		}
		if bpfErr != nil && !p.Files {
			s.failed[p.Name] = bpfErr
			opts.Logger.Warn("probe disabled", zap.String("probe", p.Name), zap.Strings("hooks", p.Hooks), zap.Error(bpfErr))
			continue
		}
		a, err := p.attach(&attachEnv{
			opts:    &ebpf.CollectionOptions{MapReplacements: replacements},
			prepare: prepare,
			logger:  opts.Logger,
			options: opts,
			names:   names,
			host:    &host,
		})
		if err != nil {
			s.failed[p.Name] = err
			opts.Logger.Warn("probe disabled", zap.String("probe", p.Name), zap.Strings("hooks", p.Hooks), zap.Error(err))
			continue
		}
		s.attachments[p.Name] = a
		s.attached = append(s.attached, p.Name)
	}
	if len(s.attached) == 0 {
		err := errors.New("no probe could be attached: check that the collector runs as root or with CAP_BPF and CAP_PERFMON, that tracefs is mounted at /sys/kernel/tracing, and that the kernel has BTF (/sys/kernel/btf/vmlinux)")
		for name, perr := range s.failed {
			err = fmt.Errorf("%w; %s: %w", err, name, perr)
		}
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Set) createSharedMaps(ringBytes uint32) error {
	spec, err := loadTcpretrans()
	if err != nil {
		return fmt.Errorf("read embedded BPF object: %w", err)
	}
	events := spec.Maps[mapEvents].Copy()
	events.MaxEntries = ringBytes
	if s.Events, err = ebpf.NewMap(events); err != nil {
		return fmt.Errorf("create ring buffer of %d bytes: %w", ringBytes, err)
	}
	if s.EventsLost, err = ebpf.NewMap(spec.Maps[mapEventsLost].Copy()); err != nil {
		_ = s.Events.Close()
		return fmt.Errorf("create map %s: %w", mapEventsLost, err)
	}
	if s.owners, err = ebpf.NewMap(spec.Maps[mapSockOwners].Copy()); err != nil {
		_ = s.Events.Close()
		_ = s.EventsLost.Close()
		return fmt.Errorf("create map %s: %w", mapSockOwners, err)
	}
	return nil
}

// Names resolves kernel enum values (drop and reset reasons); nil-safe.
func (s *Set) Names() *KernelNames { return s.names }

// Attached names the probes that are running.
func (s *Set) Attached() []string { return slices.Clone(s.attached) }

// Attachments returns the running probes by name.
func (s *Set) Attachments() map[string]*Attachment { return s.attachments }

// Failed maps each probe that could not be attached to its error.
func (s *Set) Failed() map[string]error { return s.failed }

// LostByType sums the per-CPU lost-reservation counters per event type.
func (s *Set) LostByType() (map[uint32]uint64, error) {
	out := map[uint32]uint64{}
	if s.EventsLost == nil { // no BPF: nothing reserved, nothing lost
		return out, nil
	}
	var (
		key    uint32
		values []uint64
	)
	iter := s.EventsLost.Iterate()
	for iter.Next(&key, &values) {
		var sum uint64
		for _, v := range values {
			sum += v
		}
		if sum > 0 {
			out[key] = sum
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", mapEventsLost, err)
	}
	return out, nil
}

// Close detaches every program and releases every map. Links go first so no
// program fires into a closing map.
func (s *Set) Close() error {
	var errs []error
	for _, name := range s.attached {
		for _, c := range s.attachments[name].closers {
			errs = append(errs, c.Close())
		}
	}
	s.attachments, s.attached = nil, nil
	for _, m := range []*ebpf.Map{s.Events, s.EventsLost, s.owners} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	return errors.Join(errs...)
}

// tracepoint attaches prog to group:name, wrapping the error with the hook.
func tracepoint(group, name string, prog *ebpf.Program) (link.Link, error) {
	l, err := link.Tracepoint(group, name, prog, nil)
	if err != nil {
		return nil, fmt.Errorf("attach tracepoint %s:%s: %w", group, name, err)
	}
	return l, nil
}

// addrFrom reads an address stored in a 16-byte array (IPv4 in the first
// four bytes), reporting IPv4-mapped IPv6 as IPv4.
func addrFrom(family uint16, b [16]uint8) netip.Addr {
	if family == afInet {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b).Unmap()
}

const afInet = 2

// probeOfType names the probe that writes each ring-buffer event type.
var probeOfType = map[uint32]string{
	uint32(event.TypeTCPRetransmit):    "tcp_retransmit",
	uint32(event.TypeTCPConnection):    "tcp_connection",
	uint32(event.TypeTCPReset):         "tcp_reset",
	uint32(event.TypeSKBDrop):          "skb_drop",
	uint32(event.TypeNetTxTimeout):     "net_tx_timeout",
	uint32(event.TypeSchedDelay):       "sched_delay",
	uint32(event.TypeBlockIO):          "block_io",
	uint32(event.TypeSyscallSlow):      "syscall_slow",
	uint32(event.TypeOOMKill):          "oom_kill",
	uint32(event.TypeTCPEstablished):   "tcp_connection",
	uint32(event.TypeCPUThrottled):     "sched_delay", // per-thread throttling
	uint32(event.TypeCPUSteal):         "sched_delay", // per-process steal (counted in events_lost only)
	uint32(event.TypeBlockIOUntracked): "block_io",    // requests the full in-flight table could not track (events_lost only)
}

// ProbeOf names the probe behind an event type ("unknown" for others).
func ProbeOf(eventType uint32) string {
	if name, ok := probeOfType[eventType]; ok {
		return name
	}
	return "unknown"
}

// timeNow is time.Now; the start time of cumulative histograms.
var timeNow = time.Now
