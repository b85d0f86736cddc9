package probes

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// A probe that cannot attach is logged once and the others run.
func TestFailedProbeIsLoggedAndOthersRun(t *testing.T) {
	testenv.RequireRoot(t)
	core, logs := observer.New(zap.WarnLevel)
	s, err := Load(Options{
		Enabled:         []string{"kernel_log", "cpu_steal", "sched_delay"},
		RingBufferBytes: 1 << 16,
		Logger:          zap.New(core),
		Host:            &HostOptions{KmsgPath: filepath.Join(t.TempDir(), "no-kmsg")},
	})
	require.NoError(t, err)
	defer s.Close()
	assert.ElementsMatch(t, []string{"cpu_steal", "sched_delay"}, s.Attached())
	require.Contains(t, s.Failed(), "kernel_log")
	disabled := logs.FilterMessage("probe disabled").All()
	require.Len(t, disabled, 1)
	assert.Equal(t, "kernel_log", disabled[0].ContextMap()["probe"])
}
