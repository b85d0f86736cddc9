// Package distrotest checks the built otelcol-crosshair binary the way a user
// meets it: `components`, `validate` on every shipped config, and `validate`
// on broken configs naming the broken field.
package distrotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

const binary = "../../_build/otelcol-crosshair"

func requireBinary(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(binary); err != nil {
		testenv.SkipOrFail(t, "%s not built (run make build): %v", binary, err)
	}
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "K8S_NODE_NAME=distrotest-node")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestComponentsListsOurs(t *testing.T) {
	requireBinary(t)
	out, err := run(t, "components")
	require.NoError(t, err, out)
	for _, name := range []string{"name: ebpf", "name: isolation_join", "name: otlp", "name: k8s_attributes", "name: health_check", "name: prometheus", "name: file"} {
		assert.Contains(t, out, name)
	}
}

func TestShippedConfigsValidate(t *testing.T) {
	requireBinary(t)
	configs, err := filepath.Glob("../../config/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, configs)
	for _, c := range configs {
		t.Run(filepath.Base(c), func(t *testing.T) {
			out, err := run(t, "validate", "--config", c)
			require.NoError(t, err, out)
		})
	}
}

func TestInvalidConfigsNameTheField(t *testing.T) {
	requireBinary(t)
	tests := []struct {
		config string
		want   []string
	}{
		{config: "testdata/unknown_probe.yaml", want: []string{"receivers::ebpf", `probes[0]: unknown probe "tcp_teleport"`}},
		{config: "testdata/negative_slack.yaml", want: []string{"processors::isolation_join", "slack: must not be negative, got -100ms"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.config), func(t *testing.T) {
			out, err := run(t, "validate", "--config", tt.config)
			require.Error(t, err, "validate accepted %s", tt.config)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}
}
