package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
)

// joinProcessor is the instance shared by the logs and traces pipelines of
// one component ID.
type joinProcessor struct {
	cfg      *Config
	settings processor.Settings

	mu         sync.Mutex
	nextTraces consumer.Traces
}

func newJoinProcessor(set processor.Settings, cfg *Config) (*joinProcessor, error) {
	return &joinProcessor{cfg: cfg, settings: set}, nil
}

func (p *joinProcessor) setNextTraces(next consumer.Traces) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextTraces = next
}

func (p *joinProcessor) Start(context.Context, component.Host) error { return nil }

func (p *joinProcessor) Shutdown(context.Context) error { return nil }

// processLogs passes kernel events on unchanged.
func (p *joinProcessor) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	return ld, nil
}

// processTraces forwards spans.
func (p *joinProcessor) processTraces(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	return td, nil
}
