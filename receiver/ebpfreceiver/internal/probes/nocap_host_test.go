package probes

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

const noBPFChild = "CROSSHAIR_TEST_NO_BPF_CHILD"

// Issue 14 row 7: without CAP_BPF/CAP_PERFMON (and CAP_SYS_ADMIN) the
// file-based probes still run, and each disabled probe's log line names
// the missing capability. The test re-runs itself in a child whose
// capabilities capsh dropped.
func TestFileProbesRunWithoutCapBPF(t *testing.T) {
	if os.Getenv(noBPFChild) == "1" {
		noBPFChildRun(t)
		return
	}
	testenv.RequireRoot(t, "capsh")
	cmd := exec.Command("capsh", "--drop=cap_bpf,cap_perfmon,cap_sys_admin", "--",
		"-c", `exec "$0" -test.run '^TestFileProbesRunWithoutCapBPF$' -test.v`, os.Args[0])
	cmd.Env = append(os.Environ(), noBPFChild+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child without CAP_BPF:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: TestFileProbesRunWithoutCapBPF")
}

func noBPFChildRun(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	kmsg := filepath.Join(t.TempDir(), "kmsg")
	require.NoError(t, os.WriteFile(kmsg, nil, 0o600))
	s, err := Load(Options{
		Enabled:         []string{"tcp_retransmit", "sched_delay", "kernel_log", "cpu_steal", "cgroup_throttle"},
		RingBufferBytes: 1 << 16,
		Logger:          zap.New(core),
		Host:            &HostOptions{KmsgPath: kmsg},
	})
	require.NoError(t, err, "the file-based probes need no BPF")
	defer s.Close()
	assert.ElementsMatch(t, []string{"kernel_log", "cpu_steal", "cgroup_throttle"}, s.Attached())
	for _, name := range []string{"tcp_retransmit", "sched_delay"} {
		require.Contains(t, s.Failed(), name)
		assert.Contains(t, s.Failed()[name].Error(), "CAP_BPF", name)
		assert.NotContains(t, s.Failed()[name].Error(), "MEMLOCK", name)
	}
	disabled := logs.FilterMessage("probe disabled").All()
	require.Len(t, disabled, 2)
	for _, d := range disabled {
		assert.True(t, strings.Contains(d.ContextMap()["error"].(string), "CAP_BPF"), d.ContextMap())
	}
}
