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
}

func TestValidateNamesFields(t *testing.T) {
	err := loadConfig(t, "invalid").Validate()
	require.Error(t, err)
	for _, field := range []string{"slow_threshold:", "trace_wait:", "max_traces:", "max_spans_per_trace:", "text_path, json_path:", "remedies[0].layer:", "remedies[0].hint:"} {
		assert.Contains(t, err.Error(), field)
	}

	cfg := createDefaultConfig()
	cfg.TextPath, cfg.JSONPath = "/tmp/x", "/tmp/x"
	assert.ErrorContains(t, cfg.Validate(), "json_path:")
	cfg.TextPath, cfg.JSONPath = OutputStdout, OutputStdout
	assert.NoError(t, cfg.Validate())
}
