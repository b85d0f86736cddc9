package isolationjoinprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	gateway := createDefaultConfig()
	gateway.Slack = 250 * time.Millisecond
	gateway.MaxDelay = 5 * time.Second
	gateway.Retention = time.Minute
	gateway.MaxEvents = 500_000
	gateway.MaxConnections = 200_000
	gateway.MaxPendingSpans = 20_000
	gateway.MaxSpanEvents = 4
	gateway.EvidenceOnAppSpans = true

	rules := createDefaultConfig()
	rules.Rules = []RuleConfig{
		{Event: "kernel.sched.delay", Layer: "L1"},
		{Event: "kernel.syscall.slow", Match: map[string]string{"kernel.syscall.name": "fsync"}, Layer: "L3"},
	}
	rules.Thresholds.EventCost = 50 * time.Millisecond
	rules.Thresholds.MinSchedDelay = 5 * time.Millisecond

	tests := []struct {
		id       component.ID
		want     *Config
		wantErrs []string
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig()},
		{id: component.NewIDWithName(metadata.Type, "gateway"), want: gateway},
		{id: component.NewIDWithName(metadata.Type, "negative_slack"), wantErrs: []string{"slack: must not be negative, got -10ms"}},
		{id: component.NewIDWithName(metadata.Type, "zero_bounds"), wantErrs: []string{"max_events: must be positive", "max_connections: must be positive", "max_pending_spans: must be positive"}},
		{id: component.NewIDWithName(metadata.Type, "rules"), want: rules},
		{id: component.NewIDWithName(metadata.Type, "bad_rules"), wantErrs: []string{
			`rules[0].layer: unknown layer "L9"`,
			`rules[1].event: must name a kernel event (kernel.*), got "sched"`,
			`rules[1].match: attribute "color" cannot be matched`,
			"thresholds.min_block_latency: must not be negative, got -1ms",
			"thresholds.min_share: must be between 0 and 1, got 1.5",
			"thresholds.min_time: must not be negative, got -1ms",
			"thresholds.min_prorated_time: must not be negative, got -2ms",
		}},
		{id: component.NewIDWithName(metadata.Type, "short_retention"), wantErrs: []string{"retention: 5s is shorter than max_delay + slack"}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if len(tt.wantErrs) > 0 {
				for _, want := range tt.wantErrs {
					require.ErrorContains(t, err, want)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
