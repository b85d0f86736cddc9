package diagnosisconnector // import "github.com/crosshair-otel/crosshair/connector/diagnosisconnector"

import (
	"time"

	"github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"
)

// Config selects the traces to diagnose, as the diagnosis exporter's
// settings of the same names do. The report goes out as a log record; the
// exporter's text, JSON and view outputs are not part of the connector.
type Config struct {
	// SlowThreshold: a trace is diagnosed when one of its spans lasts longer.
	SlowThreshold time.Duration `mapstructure:"slow_threshold"`
	// IncludeErrors diagnoses traces with a span whose status is Error.
	IncludeErrors bool `mapstructure:"include_errors"`
	// TraceWait is how long a trace's spans are collected after its first
	// span arrived before its report is made.
	TraceWait time.Duration `mapstructure:"trace_wait"`
	// MaxTraces bounds the traces collected at once.
	MaxTraces int `mapstructure:"max_traces"`
	// MaxSpansPerTrace bounds the spans kept per trace.
	MaxSpansPerTrace int `mapstructure:"max_spans_per_trace"`
	// Remedies are consulted before the built-in remedy table.
	Remedies []diagnosisexporter.RemedyRule `mapstructure:"remedies"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() *Config {
	d := diagnosisexporter.NewFactory().CreateDefaultConfig().(*diagnosisexporter.Config)
	return &Config{
		SlowThreshold:    d.SlowThreshold,
		IncludeErrors:    d.IncludeErrors,
		TraceWait:        d.TraceWait,
		MaxTraces:        d.MaxTraces,
		MaxSpansPerTrace: d.MaxSpansPerTrace,
	}
}

// reporterConfig is the diagnosis exporter's config with no output of its own.
func (cfg *Config) reporterConfig() *diagnosisexporter.Config {
	d := diagnosisexporter.NewFactory().CreateDefaultConfig().(*diagnosisexporter.Config)
	d.SlowThreshold = cfg.SlowThreshold
	d.IncludeErrors = cfg.IncludeErrors
	d.TraceWait = cfg.TraceWait
	d.MaxTraces = cfg.MaxTraces
	d.MaxSpansPerTrace = cfg.MaxSpansPerTrace
	d.Remedies = cfg.Remedies
	d.TextPath = ""
	return d
}

// Validate checks the configuration; every error names its field (the
// exporter's checks of the same fields).
func (cfg *Config) Validate() error {
	return cfg.reporterConfig().ValidateAsSource()
}
