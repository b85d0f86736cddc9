package diagnosisconnector // import "github.com/crosshair-otel/crosshair/connector/diagnosisconnector"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/crosshair-otel/crosshair/connector/diagnosisconnector/internal/metadata"
)

// NewFactory returns the factory of the diagnosis connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		connector.WithTracesToLogs(createTracesToLogs, metadata.TracesToLogsStability),
	)
}

func createTracesToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Traces, error) {
	return newDiagnosisConnector(cfg.(*Config), set.Logger, next), nil
}
