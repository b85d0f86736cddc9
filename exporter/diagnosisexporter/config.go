package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Output names that are not file paths.
const (
	OutputStdout = "stdout"
	OutputStderr = "stderr"
)

// Config configures the diagnosis exporter. `diagnosis: {}` writes text
// reports to stdout for every trace with a span over 500ms or an error.
type Config struct {
	// SlowThreshold: a trace is diagnosed when one of its spans lasts longer.
	SlowThreshold time.Duration `mapstructure:"slow_threshold"`

	// IncludeErrors diagnoses traces with a span whose status is Error,
	// whatever their durations.
	IncludeErrors bool `mapstructure:"include_errors"`

	// TraceWait is how long a trace's spans are collected after its first
	// span arrived before its report is written (a trace's spans arrive in
	// several batches, one per service and export interval).
	TraceWait time.Duration `mapstructure:"trace_wait"`

	// MaxTraces bounds the traces collected at once; over it the oldest is
	// reported early with the spans it has.
	MaxTraces int `mapstructure:"max_traces"`

	// MaxSpansPerTrace bounds the spans kept per trace.
	MaxSpansPerTrace int `mapstructure:"max_spans_per_trace"`

	// TextPath receives the human-readable reports: "stdout", "stderr", a
	// file path (appended to) or "" for none.
	TextPath string `mapstructure:"text_path"`

	// JSONPath receives one JSON object per report per line: "stdout",
	// "stderr", a file path (appended to) or "" for none.
	JSONPath string `mapstructure:"json_path"`

	// Remedies are consulted before the built-in remedy table: the first
	// entry whose layer matches (empty = any) and whose match string occurs
	// in the cause (case-insensitive, empty = any) gives the hint.
	Remedies []RemedyRule `mapstructure:"remedies"`

	// View serves the crosshair view (a page per diagnosed trace: its hops
	// over the isolation layers) on its own HTTP endpoint. Off by default.
	View ViewConfig `mapstructure:"view"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// ViewConfig configures the crosshair view.
type ViewConfig struct {
	// Endpoint is the host:port the view listens on; "" (the default)
	// turns the view off. The view has no authentication: bind it to
	// localhost (127.0.0.1:8787) and reach it through an SSH or kubectl
	// port-forward.
	Endpoint string `mapstructure:"endpoint"`

	// MaxTraces is how many diagnosed traces the view keeps (newest win).
	MaxTraces int `mapstructure:"max_traces"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// maxViewTraces bounds view.max_traces: each trace keeps up to
// max_spans_per_trace spans with their events.
const maxViewTraces = 10_000

// RemedyRule is one row of the remedy table.
type RemedyRule struct {
	Layer string `mapstructure:"layer"`
	Match string `mapstructure:"match"`
	Hint  string `mapstructure:"hint"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{
		SlowThreshold:    500 * time.Millisecond,
		IncludeErrors:    true,
		TraceWait:        10 * time.Second,
		MaxTraces:        10_000,
		MaxSpansPerTrace: 1_000,
		TextPath:         OutputStdout,
		View:             ViewConfig{MaxTraces: 200},
	}
}

// maxTraceWait bounds trace_wait: reports are for on-call, not archives.
const maxTraceWait = 5 * time.Minute

var validLayers = map[string]bool{"": true, "L0": true, "L1": true, "L2": true, "L3": true, "L4": true, "network": true, "app": true}

// Validate checks the configuration; every error names its field.
func (cfg *Config) Validate() error { return cfg.validate(true) }

// ValidateAsSource checks the configuration of a Reporter whose reports go
// somewhere else (the diagnosis connector's log records): text_path,
// json_path and view.endpoint may all be off.
func (cfg *Config) ValidateAsSource() error { return cfg.validate(false) }

func (cfg *Config) validate(requireOutput bool) error {
	var errs []error
	if cfg.SlowThreshold <= 0 {
		errs = append(errs, fmt.Errorf("slow_threshold: must be positive, got %s", cfg.SlowThreshold))
	}
	if cfg.TraceWait < 0 || cfg.TraceWait > maxTraceWait {
		errs = append(errs, fmt.Errorf("trace_wait: must be between 0 and %s, got %s", maxTraceWait, cfg.TraceWait))
	}
	if cfg.MaxTraces <= 0 {
		errs = append(errs, fmt.Errorf("max_traces: must be positive, got %d", cfg.MaxTraces))
	}
	if cfg.MaxSpansPerTrace <= 0 {
		errs = append(errs, fmt.Errorf("max_spans_per_trace: must be positive, got %d", cfg.MaxSpansPerTrace))
	}
	if requireOutput && strings.TrimSpace(cfg.TextPath) == "" && strings.TrimSpace(cfg.JSONPath) == "" && cfg.View.Endpoint == "" {
		errs = append(errs, errors.New("text_path, json_path, view.endpoint: at least one output is required"))
	}
	if cfg.TextPath != "" && cfg.TextPath == cfg.JSONPath && cfg.TextPath != OutputStdout && cfg.TextPath != OutputStderr {
		errs = append(errs, fmt.Errorf("json_path: %q is also text_path; text and JSON reports need different files", cfg.JSONPath))
	}
	if cfg.View.Endpoint != "" {
		if _, port, err := net.SplitHostPort(cfg.View.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("view.endpoint: want host:port (e.g. 127.0.0.1:8787), got %q: %w", cfg.View.Endpoint, err))
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("view.endpoint: port %q is not a number from 0 to 65535", port))
		}
	}
	if cfg.View.MaxTraces <= 0 || cfg.View.MaxTraces > maxViewTraces {
		errs = append(errs, fmt.Errorf("view.max_traces: must be between 1 and %d, got %d", maxViewTraces, cfg.View.MaxTraces))
	}
	for i, r := range cfg.Remedies {
		if !validLayers[r.Layer] {
			errs = append(errs, fmt.Errorf("remedies[%d].layer: unknown layer %q (want L0–L4, network, app or empty)", i, r.Layer))
		}
		if strings.TrimSpace(r.Hint) == "" {
			errs = append(errs, fmt.Errorf("remedies[%d].hint: must not be empty", i))
		}
	}
	return errors.Join(errs...)
}
