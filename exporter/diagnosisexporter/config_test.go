package diagnosisexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/crosshair-otel/crosshair/exporter/diagnosisexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config)
}

func TestLoadConfig(t *testing.T) {
	def := loadConfig(t, "")
	assert.Equal(t, createDefaultConfig(), def)
	require.NoError(t, def.Validate())

	custom := loadConfig(t, "custom")
	require.NoError(t, custom.Validate())
	assert.Equal(t, 200*time.Millisecond, custom.SlowThreshold)
	assert.False(t, custom.IncludeErrors)
	assert.Equal(t, 3*time.Second, custom.TraceWait)
	assert.Equal(t, 500, custom.MaxTraces)
	assert.Equal(t, 64, custom.MaxSpansPerTrace)
	assert.Equal(t, "/var/log/crosshair/diagnosis.jsonl", custom.JSONPath)
	require.Len(t, custom.Remedies, 1)
	assert.Equal(t, "L3", custom.Remedies[0].Layer)
	assert.Equal(t, "ask the payments team to raise the CPU limit", custom.Remedies[0].Hint)
	assert.Equal(t, "127.0.0.1:8787", custom.View.Endpoint)
	assert.Equal(t, 50, custom.View.MaxTraces)
	assert.Empty(t, def.View.Endpoint, "the view is off by default")
}

func TestValidateNamesFields(t *testing.T) {
	err := loadConfig(t, "invalid").Validate()
	require.Error(t, err)
	for _, field := range []string{"slow_threshold:", "trace_wait:", "max_traces:", "max_spans_per_trace:", "remedies[0].layer:", "remedies[0].hint:", "view.endpoint: want host:port", "view.max_traces:"} {
		assert.Contains(t, err.Error(), field)
	}

	cfg := createDefaultConfig()
	cfg.TextPath = ""
	assert.ErrorContains(t, cfg.Validate(), "text_path, json_path, view.endpoint: at least one output")
	cfg.TextPath, cfg.JSONPath = "/tmp/x", "/tmp/x"
	assert.ErrorContains(t, cfg.Validate(), "json_path:")
	cfg.TextPath, cfg.JSONPath = OutputStdout, OutputStdout
	assert.NoError(t, cfg.Validate())
	// The view alone is an output.
	cfg.TextPath, cfg.JSONPath, cfg.View.Endpoint = "", "", "127.0.0.1:8787"
	assert.NoError(t, cfg.Validate())
	cfg.View.Endpoint = "127.0.0.1:http"
	assert.ErrorContains(t, cfg.Validate(), "view.endpoint: port")
}
