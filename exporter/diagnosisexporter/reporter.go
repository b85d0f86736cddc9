package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

// Reporter is the exporter's machinery — spans collected per trace for
// trace_wait, then diagnosed — with every report handed to a function as
// well as to the configured outputs. The diagnosis connector builds on it.
type Reporter struct {
	e *diagnosisExporter
}

// NewReporter returns a Reporter that calls emit with each report, from the
// goroutine that consumed the trace's last batch or from its own flush loop.
func NewReporter(cfg *Config, logger *zap.Logger, emit func(*Report)) *Reporter {
	e := newDiagnosisExporter(cfg, logger)
	e.emit = emit
	return &Reporter{e: e}
}

// Start opens the configured outputs and starts the flush loop.
func (r *Reporter) Start(ctx context.Context, host component.Host) error { return r.e.start(ctx, host) }

// Shutdown reports every trace still collected and closes the outputs.
func (r *Reporter) Shutdown(ctx context.Context) error { return r.e.shutdown(ctx) }

// ConsumeTraces collects the spans of td.
func (r *Reporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return r.e.consumeTraces(ctx, td)
}
