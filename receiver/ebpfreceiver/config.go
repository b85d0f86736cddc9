package ebpfreceiver // import "github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/probes"
)

// Config configures the ebpf receiver. The zero value of every field means
// "use the default", so `ebpf: {}` is a complete production config.
type Config struct {
	// Probes names the probes to load. Empty loads every probe; a probe the
	// kernel refuses is logged and skipped.
	Probes []string `mapstructure:"probes"`

	// RingBufferSize is the size in bytes of the ring buffer that carries
	// discrete kernel events to user space (all probes share one). A power
	// of two and a multiple of the page size.
	RingBufferSize int `mapstructure:"ring_buffer_size"`

	// FlushInterval bounds how long a decoded event waits to be batched
	// before it is sent to the next consumer.
	FlushInterval time.Duration `mapstructure:"flush_interval"`

	// MaxBatchSize sends a batch early once it holds this many records.
	MaxBatchSize int `mapstructure:"max_batch_size"`

	// MetricsInterval is how often the in-kernel counters and histograms
	// are read and emitted as metrics.
	MetricsInterval time.Duration `mapstructure:"metrics_interval"`

	// PollInterval is how often probes whose source is a file rather than
	// a hook (conntrack counters, cgroup cpu.stat, /proc/stat) are read for
	// events. It is also the time resolution of their events.
	PollInterval time.Duration `mapstructure:"poll_interval"`

	// Filters keep only the events of matching sockets. They apply to log
	// records with a socket tuple (retransmits, connections, resets, drops);
	// the in-kernel counters behind the metrics count everything.
	Filters FilterConfig `mapstructure:"filters"`

	// SKBDropEventsPerSecond bounds kernel.skb.drop events per CPU per
	// second, enforced in the kernel; kernel.skb.drops still counts every drop.
	SKBDropEventsPerSecond int `mapstructure:"skb_drop_events_per_second"`
	// SKBDropIgnoreReasons are kernel drop reasons (enum skb_drop_reason
	// names without the SKB_DROP_REASON_ prefix) of normal socket life, not
	// loss: they make no kernel.skb.drop record (filtered in the kernel)
	// but kernel.skb.drops still counts them. An explicit empty list keeps
	// every reason.
	SKBDropIgnoreReasons []string `mapstructure:"skb_drop_ignore_reasons"`
	// TCPAcceptOwnerHooks names the owner of an accepted TCP connection at
	// its first send or receive (tp_btf/sock_recv_length,
	// sock_send_length). Off by default: those hooks run on every socket
	// send and receive of the node (8-11% slower on a send/recv ping-pong
	// loop, BENCHMARKS.md); without them the owner is found by a walk of
	// the tasks' files every poll_interval while accepted connections wait
	// for one, or at the owner's close, whichever comes first.
	TCPAcceptOwnerHooks bool `mapstructure:"tcp_accept_owner_hooks"`
	// EventNameAttribute also writes each record's event name as the
	// event.name attribute, which the semantic conventions deprecated for
	// the log record's EventName field. Off by default: turn it on only
	// for a backend or processor that predates EventName.
	EventNameAttribute bool `mapstructure:"event_name_attribute"`
	// HostConfig holds the host-side probes' settings (sched_delay,
	// block_io, syscall_slow, cpu_steal, kernel_log).
	HostConfig `mapstructure:",squash"`

	// MetricsBuilderConfig enables or disables each metric, and the
	// resource attributes (host.name, k8s.node.name) stamped on every batch.
	metadata.MetricsBuilderConfig `mapstructure:",squash"`
	// Events enables or disables each event (log record) by name:
	// `events: {kernel.sched.delay: {enabled: false}}`.
	Events metadata.EventsConfig `mapstructure:"events"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// FilterConfig selects sockets by port and address. A record passes when
// its local or peer port is listed (or no ports are) and its local or peer
// address is inside one of the prefixes (or none are given).
type FilterConfig struct {
	// Ports to keep, e.g. [80, 443].
	Ports []int `mapstructure:"ports"`
	// Addresses to keep: CIDR prefixes or single addresses (IPv4 and IPv6;
	// IPv4-mapped IPv6 socket addresses match IPv4 prefixes).
	Addresses []string `mapstructure:"addresses"`
}

// matcher compiles the filter; nil when it keeps everything.
func (f FilterConfig) matcher() func(event.Tuple) bool {
	if len(f.Ports) == 0 && len(f.Addresses) == 0 {
		return nil
	}
	ports := map[uint16]bool{}
	for _, p := range f.Ports {
		ports[uint16(p)] = true
	}
	var prefixes []netip.Prefix
	for _, a := range f.Addresses {
		if p, err := parsePrefix(a); err == nil {
			prefixes = append(prefixes, p)
		}
	}
	inPrefixes := func(a netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(t event.Tuple) bool {
		if len(ports) > 0 && !ports[t.Local.Port()] && !ports[t.Peer.Port()] {
			return false
		}
		if len(prefixes) > 0 && !inPrefixes(t.Local.Addr()) && !inPrefixes(t.Peer.Addr()) {
			return false
		}
		return true
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-mappedBits(p.Addr())).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// mappedBits is the 96 bits an IPv4-mapped prefix carries before the IPv4 part.
func mappedBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

const (
	defaultRingBufferSize  = 4 << 20 // 4 MiB: ~40k retransmit records, seconds of headroom at 100k events/s
	defaultFlushInterval   = 200 * time.Millisecond
	defaultMaxBatchSize    = 1024
	defaultMetricsInterval = 10 * time.Second
	defaultPollInterval    = time.Second
	defaultDropEventsRate  = 1000
)

// DefaultSKBDropIgnoreReasons are the drop reasons healthy TCP traffic
// produces on every connection (checked against this kernel's enum
// skb_drop_reason and an e2e run with no fault):
//   - QUEUE_PURGE: a closing socket frees its unsent/unread queues;
//   - SOCKET_CLOSE, TCP_CLOSE: a segment for a socket that is closing/closed;
//   - TCP_OLD_DATA, TCP_OLD_SEQUENCE: a duplicate of data already received
//     (the loss, if any, is the earlier drop of the original or its ACK);
//   - TCP_OFOMERGE: an out-of-order segment merged into the queue (no data
//     lost);
//   - TCP_INVALID_ACK_SEQUENCE: a stale ACK around a close.
//
// Not listed on purpose: NETFILTER_DROP and every device/qdisc/veth reason
// (real loss), NO_SOCKET (a closed port or a peer talking to a dead socket;
// the reset record covers TCP, but UDP has only the drop), NOT_SPECIFIED.
var DefaultSKBDropIgnoreReasons = []string{
	"QUEUE_PURGE", "SOCKET_CLOSE", "TCP_CLOSE", "TCP_OLD_DATA", "TCP_OLD_SEQUENCE",
	"TCP_OFOMERGE", "TCP_INVALID_ACK_SEQUENCE",
}

func createDefaultConfig() *Config {
	return &Config{
		RingBufferSize:         defaultRingBufferSize,
		FlushInterval:          defaultFlushInterval,
		MaxBatchSize:           defaultMaxBatchSize,
		MetricsInterval:        defaultMetricsInterval,
		PollInterval:           defaultPollInterval,
		SKBDropEventsPerSecond: defaultDropEventsRate,
		SKBDropIgnoreReasons:   slices.Clone(DefaultSKBDropIgnoreReasons),
		HostConfig:             defaultHostConfig(),
		MetricsBuilderConfig:   metadata.NewDefaultMetricsBuilderConfig(),
		Events:                 metadata.DefaultEventsConfig(),
	}
}

// Validate checks the configuration; every error names its field.
func (cfg *Config) Validate() error {
	var errs []error
	known := probes.Names()
	for i, name := range cfg.Probes {
		if !slices.Contains(known, name) {
			errs = append(errs, fmt.Errorf("probes[%d]: unknown probe %q (known: %s)", i, name, strings.Join(known, ", ")))
		}
		if slices.Index(cfg.Probes, name) != i {
			errs = append(errs, fmt.Errorf("probes[%d]: probe %q listed twice", i, name))
		}
	}
	page := os.Getpagesize()
	switch {
	case cfg.RingBufferSize <= 0:
		errs = append(errs, fmt.Errorf("ring_buffer_size: must be positive, got %d", cfg.RingBufferSize))
	case cfg.RingBufferSize&(cfg.RingBufferSize-1) != 0 || cfg.RingBufferSize%page != 0:
		errs = append(errs, fmt.Errorf("ring_buffer_size: must be a power of two and a multiple of the page size (%d), got %d", page, cfg.RingBufferSize))
	case cfg.RingBufferSize > 1<<30:
		errs = append(errs, fmt.Errorf("ring_buffer_size: at most 1 GiB, got %d", cfg.RingBufferSize))
	}
	if cfg.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("flush_interval: must be positive, got %s", cfg.FlushInterval))
	}
	if cfg.MetricsInterval <= 0 {
		errs = append(errs, fmt.Errorf("metrics_interval: must be positive, got %s", cfg.MetricsInterval))
	}
	if cfg.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll_interval: must be positive, got %s", cfg.PollInterval))
	}
	if cfg.MaxBatchSize <= 0 {
		errs = append(errs, fmt.Errorf("max_batch_size: must be positive, got %d", cfg.MaxBatchSize))
	}
	for i, p := range cfg.Filters.Ports {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("filters.ports[%d]: must be 1-65535, got %d", i, p))
		}
	}
	for i, a := range cfg.Filters.Addresses {
		if _, err := parsePrefix(a); err != nil {
			errs = append(errs, fmt.Errorf("filters.addresses[%d]: not an address or CIDR prefix: %q", i, a))
		}
	}
	if cfg.SKBDropEventsPerSecond <= 0 {
		errs = append(errs, fmt.Errorf("skb_drop_events_per_second: must be positive, got %d", cfg.SKBDropEventsPerSecond))
	}
	for i, r := range cfg.SKBDropIgnoreReasons {
		name := strings.TrimPrefix(r, "SKB_DROP_REASON_")
		switch {
		case !dropReasonName(name):
			errs = append(errs, fmt.Errorf("skb_drop_ignore_reasons[%d]: not a drop reason name (upper case, e.g. QUEUE_PURGE): %q", i, r))
		case name == "NOT_DROPPED_YET" || name == "MAX":
			errs = append(errs, fmt.Errorf("skb_drop_ignore_reasons[%d]: %q is not a drop reason", i, r))
		case slices.IndexFunc(cfg.SKBDropIgnoreReasons, func(o string) bool { return strings.TrimPrefix(o, "SKB_DROP_REASON_") == name }) != i:
			errs = append(errs, fmt.Errorf("skb_drop_ignore_reasons[%d]: %q listed twice", i, r))
		}
	}
	if err := cfg.HostConfig.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// dropReasonName says whether s looks like an skb_drop_reason name: upper
// case letters, digits and underscores, starting with a letter.
func dropReasonName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
