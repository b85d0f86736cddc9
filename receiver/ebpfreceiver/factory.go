package ebpfreceiver // import "github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/crosshair-otel/crosshair/internal/sharedcomponent"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// NewFactory returns the factory of the ebpf receiver. One receiver per
// component ID serves both its logs and its metrics pipelines, so the BPF
// programs load once.
func NewFactory() receiver.Factory {
	instances := sharedcomponent.NewMap[component.ID, *ebpfReceiver]()
	getOrCreate := func(set receiver.Settings, cfg component.Config) (*sharedcomponent.Component[*ebpfReceiver], error) {
		return instances.LoadOrStore(set.ID, func() (*ebpfReceiver, error) {
			return newReceiver(set, cfg.(*Config))
		})
	}
	return receiver.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		receiver.WithLogs(func(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
			shared, err := getOrCreate(set, cfg)
			if err != nil {
				return nil, err
			}
			shared.Unwrap().nextLogs = next
			return shared, nil
		}, metadata.LogsStability),
		receiver.WithMetrics(func(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
			shared, err := getOrCreate(set, cfg)
			if err != nil {
				return nil, err
			}
			shared.Unwrap().nextMetrics = next
			return shared, nil
		}, metadata.MetricsStability),
	)
}
