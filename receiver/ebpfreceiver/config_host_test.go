package ebpfreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/probes"
)

func TestLoadHostConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config_host.yaml"))
	require.NoError(t, err)

	host := createDefaultConfig()
	host.Probes = []string{"sched_delay", "syscall_slow", "kernel_log"}
	host.SchedDelay.Threshold = 20 * time.Millisecond
	host.BlockIO.Threshold = 100 * time.Millisecond
	host.Syscall = SyscallConfig{Syscalls: []string{"connect", "fsync"}, Threshold: 30 * time.Millisecond, EntryThreshold: 5 * time.Millisecond}
	host.CPUSteal.Threshold = 10 * time.Millisecond
	host.KernelLog.Keywords = []probes.Keyword{{Pattern: "my-runtime: sandbox stalled", Layer: "L4"}}
	host.Conntrack.StatPath = "/host/proc/1/net/stat/nf_conntrack"

	tests := []struct {
		name    string
		want    *Config
		wantErr string
	}{
		{name: "host", want: host},
		{name: "bad_syscall", wantErr: `syscall_slow.syscalls[1]: unknown syscall "teleport"`},
		{name: "zero_threshold", wantErr: "sched_delay.threshold: must be positive, got 0s"},
		{name: "bad_keyword_layer", wantErr: `kernel_log.keywords[0].layer: must be one of L0, L1, L2, L3, L4, got "L7"`},
		{name: "bad_keyword_pattern", wantErr: `kernel_log.keywords[0].pattern: invalid regular expression "("`},
		{name: "no_syscalls", wantErr: "syscall_slow.syscalls: name at least one syscall"},
		{name: "relative_conntrack_path", wantErr: `conntrack.stat_path: must be an absolute path, got "proc/net/stat/nf_conntrack"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tt.name).String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
