package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/crosshair-otel/crosshair/internal/sharedcomponent"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
)

// NewFactory returns the factory of the isolation_join processor. One
// instance per component ID serves both the logs pipeline (kernel events
// in) and the traces pipeline (spans in and out).
func NewFactory() processor.Factory {
	instances := sharedcomponent.NewMap[component.ID, *joinProcessor]()
	getOrCreate := func(set processor.Settings, cfg component.Config) (*sharedcomponent.Component[*joinProcessor], error) {
		return instances.LoadOrStore(set.ID, func() (*joinProcessor, error) {
			return newJoinProcessor(set, cfg.(*Config))
		})
	}
	return processor.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithTraces(func(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
			shared, err := getOrCreate(set, cfg)
			if err != nil {
				return nil, err
			}
			p := shared.Unwrap()
			p.setNextTraces(next)
			// Held spans leave through this pipeline, not another one
			// sharing the ID.
			process := func(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
				return p.processTracesTo(ctx, td, next)
			}
			return processorhelper.NewTraces(ctx, set, cfg, next, process,
				processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
				processorhelper.WithStart(shared.Start),
				processorhelper.WithShutdown(shared.Shutdown))
		}, metadata.TracesStability),
		processor.WithLogs(func(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
			shared, err := getOrCreate(set, cfg)
			if err != nil {
				return nil, err
			}
			p := shared.Unwrap()
			return processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
				processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
				processorhelper.WithStart(shared.Start),
				processorhelper.WithShutdown(shared.Shutdown))
		}, metadata.LogsStability),
	)
}
