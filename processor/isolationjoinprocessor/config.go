package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"

import (
	"errors"
	"fmt"
	"time"
)

// Config configures the isolation_join processor (DESIGN §4). Every default
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

	// MaxEvents caps the indexed kernel events; the oldest are evicted first.
	MaxEvents int `mapstructure:"max_events"`

	// MaxPendingSpans caps the spans held at once; over it the oldest are
	// released unjoined.
	MaxPendingSpans int `mapstructure:"max_pending_spans"`

	// MaxSpanEvents caps the span events (one per joined kernel event)
	// written on one span.
	MaxSpanEvents int `mapstructure:"max_span_events"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{
		Slack:           100 * time.Millisecond,
		MaxDelay:        2 * time.Second,
		Retention:       30 * time.Second,
		MaxEvents:       200_000,
		MaxPendingSpans: 100_000,
		MaxSpanEvents:   16,
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
	if cfg.Retention <= 0 {
		errs = append(errs, fmt.Errorf("retention: must be positive, got %s", cfg.Retention))
	} else if cfg.Retention < cfg.MaxDelay+cfg.Slack {
		errs = append(errs, fmt.Errorf("retention: %s is shorter than max_delay + slack (%s): events would leave the index before the spans that need them", cfg.Retention, cfg.MaxDelay+cfg.Slack))
	}
	positive("max_events", cfg.MaxEvents)
	positive("max_pending_spans", cfg.MaxPendingSpans)
	if cfg.MaxSpanEvents < 0 {
		errs = append(errs, fmt.Errorf("max_span_events: must not be negative, got %d", cfg.MaxSpanEvents))
	}
	return errors.Join(errs...)
}
