package diagnosisconnector // import "github.com/crosshair-otel/crosshair/connector/diagnosisconnector"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"
)

// diagnosisConnector diagnoses the traces of a traces pipeline and sends
// each report as a log record into a logs pipeline.
type diagnosisConnector struct {
	reporter *diagnosisexporter.Reporter
	next     consumer.Logs
	logger   *zap.Logger
	now      func() time.Time
}

func newDiagnosisConnector(cfg *Config, logger *zap.Logger, next consumer.Logs) *diagnosisConnector {
	c := &diagnosisConnector{next: next, logger: logger, now: time.Now}
	c.reporter = diagnosisexporter.NewReporter(cfg.reporterConfig(), logger, c.emit)
	return c
}

// emit sends one report on. Reports are made after the trace's spans left
// the pipeline (trace_wait), so no request context is left to pass: a
// refused report is logged, with its trace ID, and not retried.
func (c *diagnosisConnector) emit(r *diagnosisexporter.Report) {
	logs := plog.NewLogs()
	r.AppendLogRecord(logs, c.now())
	if err := c.next.ConsumeLogs(context.Background(), logs); err != nil {
		c.logger.Warn("diagnosis report not delivered", zap.String("trace_id", r.TraceID), zap.Error(err))
	}
}

func (c *diagnosisConnector) Start(ctx context.Context, host component.Host) error {
	return c.reporter.Start(ctx, host)
}

func (c *diagnosisConnector) Shutdown(ctx context.Context) error {
	return c.reporter.Shutdown(ctx)
}

func (c *diagnosisConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *diagnosisConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return c.reporter.ConsumeTraces(ctx, td)
}
