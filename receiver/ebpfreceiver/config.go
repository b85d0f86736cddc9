package ebpfreceiver // import "github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

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

	// HostConfig holds the host-side probes' settings (sched_delay,
	// block_io, syscall_slow, cpu_steal, kernel_log).
	HostConfig `mapstructure:",squash"`

	// MetricsBuilderConfig enables or disables each metric.
	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// prevent unkeyed literal initialization
	_ struct{}
}

const (
	defaultRingBufferSize  = 4 << 20 // 4 MiB: ~40k retransmit records, seconds of headroom at 100k events/s
	defaultFlushInterval   = 200 * time.Millisecond
	defaultMaxBatchSize    = 1024
	defaultMetricsInterval = 10 * time.Second
	defaultPollInterval    = time.Second
)

func createDefaultConfig() *Config {
	return &Config{
		RingBufferSize:       defaultRingBufferSize,
		FlushInterval:        defaultFlushInterval,
		MaxBatchSize:         defaultMaxBatchSize,
		MetricsInterval:      defaultMetricsInterval,
		PollInterval:         defaultPollInterval,
		HostConfig:           defaultHostConfig(),
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
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
	if err := cfg.HostConfig.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
