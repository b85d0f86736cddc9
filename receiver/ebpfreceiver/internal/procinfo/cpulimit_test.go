package procinfo

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCPULimitFixture(t *testing.T) {
	dir := t.TempDir()
	proc, cg := filepath.Join(dir, "proc"), filepath.Join(dir, "cgroup")
	write := func(path, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	write(filepath.Join(cg, "cpu,cpuacct", "limited", "cpu.cfs_quota_us"), "10000\n")
	write(filepath.Join(cg, "cpu,cpuacct", "limited", "cpu.cfs_period_us"), "100000\n")
	write(filepath.Join(cg, "cpu,cpuacct", "free", "cpu.cfs_quota_us"), "-1\n")
	write(filepath.Join(cg, "pod", "cpu.max"), "50000 100000\n")
	write(filepath.Join(cg, "best-effort", "cpu.max"), "max 100000\n")
	for pid, content := range map[string]string{
		"1": "4:cpu,cpuacct:/limited\n0::/\n",
		"2": "4:cpu,cpuacct:/free\n0::/\n",
		"3": "0::/pod\n",
		"4": "0::/best-effort\n",
	} {
		write(filepath.Join(proc, pid, "cgroup"), content)
	}
	c := New(proc, cg, 16, time.Minute)
	c.v2Root = cg // pure v2 layout for pids 3 and 4
	assert.Equal(t, "cpu.cfs_quota_us=10000 cpu.cfs_period_us=100000", c.CPULimit(1))
	assert.Empty(t, c.CPULimit(2), "quota -1: no limit")
	assert.Equal(t, "cpu.max=50000 100000", c.CPULimit(3))
	assert.Empty(t, c.CPULimit(4), "cpu.max max: no limit")
	assert.Empty(t, c.CPULimit(5), "no such process")
}
