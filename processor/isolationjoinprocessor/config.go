package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/classify"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// Config configures the isolation_join processor (docs/design.md §4). Every default
// suits a busy node, so `isolation_join: {}` is a complete config.
type Config struct {
	// Slack widens each span's window on both sides: kernel events in
	// [start − slack, end + slack] are joined to the span.
	Slack time.Duration `mapstructure:"slack"`

	// MaxDelay is the longest a span is held waiting for the kernel events
	// of its window; after it the span is released with what has arrived.
	MaxDelay time.Duration `mapstructure:"max_delay"`

	// Retention is how long kernel events stay indexed for late spans.
	Retention time.Duration `mapstructure:"retention"`

	// MaxClockSkew is how far past the collector's clock a kernel event
	// may be stamped: later ones (a node whose clock runs ahead) are not
	// indexed and are counted (events_rejected), so they cannot move the
	// node's watermark and release held spans early.
	MaxClockSkew time.Duration `mapstructure:"max_clock_skew"`

	// MaxEvents caps the indexed kernel events; the oldest are evicted first.
	MaxEvents int `mapstructure:"max_events"`

	// MaxEventsBytes caps the memory of the indexed kernel events (their
	// estimated size: struct, strings, details); over it the oldest are
	// evicted, as over MaxEvents.
	MaxEventsBytes int64 `mapstructure:"max_events_bytes"`

	// MaxConnections caps the TCP connections the connection table holds
	// (open ones until they close, closed ones for the retention); over
	// it, the connection closed longest ago goes first, then the oldest
	// open one, and the eviction is counted.
	MaxConnections int `mapstructure:"max_connections"`

	// MaxPendingSpans caps the spans held at once; over it the oldest are
	// released unjoined.
	MaxPendingSpans int `mapstructure:"max_pending_spans"`

	// MaxSpanEvents caps the span events (one per joined kernel event)
	// written on one span.
	MaxSpanEvents int `mapstructure:"max_span_events"`

	// EvidenceOnAppSpans writes the evidence sums (kernel.*) and the span
	// events of a span whose verdict is app — the kernel saw nothing, or
	// too little to explain the span — as on a span with a layer. Off, such
	// a span gets isolation.join, isolation.layer and isolation.cause
	// (which names the evidence it weighed) only: most spans are app, and
	// their sub-threshold evidence is most of the join's output cost.
	EvidenceOnAppSpans bool `mapstructure:"evidence_on_app_spans"`

	// Rules are tried before the event's own isolation.layer and the
	// built-in rule table (docs/design.md §5): the first rule whose event name and
	// attribute matches all hold decides the event's layer.
	Rules []RuleConfig `mapstructure:"rules"`

	// Thresholds weigh the evidence.
	Thresholds ThresholdsConfig `mapstructure:"thresholds"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RuleConfig overrides the layer of matching kernel events.
type RuleConfig struct {
	// Event is the kernel event name, e.g. kernel.sched.delay.
	Event string `mapstructure:"event"`
	// Match lists attribute values the event must carry (keys: see README).
	Match map[string]string `mapstructure:"match"`
	// Layer is L0–L4, network or app (app: not evidence for any layer).
	Layer string `mapstructure:"layer"`
}

// ThresholdsConfig weighs kernel events.
type ThresholdsConfig struct {
	// EventCost is the time charged for an event without a duration
	// (retransmit, drop, reset, tx timeout, OOM kill, kernel log line).
	EventCost time.Duration `mapstructure:"event_cost"`
	// Events with a duration below their minimum are ignored.
	MinSchedDelay     time.Duration `mapstructure:"min_sched_delay"`
	MinSyscallLatency time.Duration `mapstructure:"min_syscall_latency"`
	MinBlockLatency   time.Duration `mapstructure:"min_block_latency"`
	// A layer is the verdict only when its attributed time is at least
	// MinShare of the span's duration (0–1) and at least MinTime; below,
	// the verdict is app and the evidence is still named in its cause.
	MinShare float64       `mapstructure:"min_share"`
	MinTime  time.Duration `mapstructure:"min_time"`
	// MinProratedTime: a layer whose measured time is under MinTime
	// (its time mostly prorated from interval records such as cgroup
	// throttling) must total at least this much.
	MinProratedTime time.Duration `mapstructure:"min_prorated_time"`
}

func (t ThresholdsConfig) classify() classify.Thresholds {
	return classify.Thresholds{
		EventCost:       t.EventCost,
		MinSchedDelay:   t.MinSchedDelay,
		MinSyscall:      t.MinSyscallLatency,
		MinBlockLatency: t.MinBlockLatency,
		MinShare:        t.MinShare,
		MinTime:         t.MinTime,
		MinProratedTime: t.MinProratedTime,
	}
}

func (cfg *Config) rules() []classify.Rule {
	out := make([]classify.Rule, len(cfg.Rules))
	for i, r := range cfg.Rules {
		out[i] = classify.Rule{Event: r.Event, Match: r.Match, Layer: r.Layer}
	}
	return out
}

func createDefaultConfig() *Config {
	return &Config{
		Slack:           100 * time.Millisecond,
		MaxDelay:        2 * time.Second,
		Retention:       30 * time.Second,
		MaxClockSkew:    2 * time.Second,
		MaxEvents:       200_000,
		MaxEventsBytes:  128 << 20,
		MaxConnections:  65_536,
		MaxPendingSpans: 100_000,
		MaxSpanEvents:   16,
		Thresholds: ThresholdsConfig{
			EventCost:         classify.DefaultThresholds.EventCost,
			MinSchedDelay:     classify.DefaultThresholds.MinSchedDelay,
			MinSyscallLatency: classify.DefaultThresholds.MinSyscall,
			MinBlockLatency:   classify.DefaultThresholds.MinBlockLatency,
			MinShare:          classify.DefaultThresholds.MinShare,
			MinTime:           classify.DefaultThresholds.MinTime,
			MinProratedTime:   classify.DefaultThresholds.MinProratedTime,
		},
	}
}

// Validate checks the configuration; every error names its field.
func (cfg *Config) Validate() error {
	var errs []error
	nonNegative := func(field string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", field, d))
		}
	}
	positive := func(field string, n int) {
		if n <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %d", field, n))
		}
	}
	nonNegative("slack", cfg.Slack)
	nonNegative("max_delay", cfg.MaxDelay)
	nonNegative("max_clock_skew", cfg.MaxClockSkew)
	if cfg.Retention <= 0 {
		errs = append(errs, fmt.Errorf("retention: must be positive, got %s", cfg.Retention))
	} else if cfg.Retention < cfg.MaxDelay+cfg.Slack {
		errs = append(errs, fmt.Errorf("retention: %s is shorter than max_delay + slack (%s): events would leave the index before the spans that need them", cfg.Retention, cfg.MaxDelay+cfg.Slack))
	}
	positive("max_events", cfg.MaxEvents)
	if cfg.MaxEventsBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_events_bytes: must be positive, got %d", cfg.MaxEventsBytes))
	}
	positive("max_connections", cfg.MaxConnections)
	positive("max_pending_spans", cfg.MaxPendingSpans)
	if cfg.MaxSpanEvents < 0 {
		errs = append(errs, fmt.Errorf("max_span_events: must not be negative, got %d", cfg.MaxSpanEvents))
	}
	nonNegative("thresholds.event_cost", cfg.Thresholds.EventCost)
	nonNegative("thresholds.min_sched_delay", cfg.Thresholds.MinSchedDelay)
	nonNegative("thresholds.min_syscall_latency", cfg.Thresholds.MinSyscallLatency)
	nonNegative("thresholds.min_block_latency", cfg.Thresholds.MinBlockLatency)
	nonNegative("thresholds.min_time", cfg.Thresholds.MinTime)
	nonNegative("thresholds.min_prorated_time", cfg.Thresholds.MinProratedTime)
	if s := cfg.Thresholds.MinShare; !(s >= 0 && s <= 1) {
		errs = append(errs, fmt.Errorf("thresholds.min_share: must be between 0 and 1, got %v", s))
	}
	for i, r := range cfg.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if !strings.HasPrefix(r.Event, "kernel.") {
			errs = append(errs, fmt.Errorf("%s.event: must name a kernel event (kernel.*), got %q", field, r.Event))
		}
		if !kevent.IsLayer(r.Layer) {
			errs = append(errs, fmt.Errorf("%s.layer: unknown layer %q (known: %s)", field, r.Layer, strings.Join(kevent.Layers, ", ")))
		}
		for k := range r.Match {
			if !slices.Contains(kevent.MatchKeys, k) {
				errs = append(errs, fmt.Errorf("%s.match: attribute %q cannot be matched (known: %s)", field, k, strings.Join(kevent.MatchKeys, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}
