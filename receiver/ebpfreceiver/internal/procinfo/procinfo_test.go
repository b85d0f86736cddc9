package procinfo

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const id = "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"

// A fixture tree stands for /proc and a pure cgroup v2 /sys/fs/cgroup.
func TestCacheOverFixtureTree(t *testing.T) {
	dir := t.TempDir()
	proc, cg := filepath.Join(dir, "proc"), filepath.Join(dir, "cgroup")
	scope := filepath.Join(cg, "system.slice", "docker-"+id+".scope")
	require.NoError(t, os.MkdirAll(scope, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "42"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "42", "cgroup"), []byte("0::/system.slice/docker-"+id+".scope\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "42", "status"), []byte("Seccomp:\t2\n"), 0o644))
	// The exe link of a binary replaced while it runs; the comm file says
	// something else (a thread name), which process.executable.name is not.
	require.NoError(t, os.Symlink("/usr/local/bin/payment-service (deleted)", filepath.Join(proc, "42", "exe")))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "42", "comm"), []byte("worker-3\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "cgroups"), []byte("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t0\t1\t1\n"), 0o644))

	c := New(proc, cg, 2, time.Minute)
	info := c.Lookup(42)
	assert.Equal(t, Info{CgroupPath: "/system.slice/docker-" + id + ".scope", ContainerID: id, Executable: "payment-service"}, info)
	assert.Equal(t, "worker-3", c.Comm(42))
	assert.Equal(t, 2, c.SeccompMode(42))
	assert.Equal(t, Info{}, c.Lookup(43))

	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(scope, &st))
	assert.Equal(t, "/system.slice/docker-"+id+".scope", c.CgroupPath(st.Ino, 0))
	assert.Equal(t, "cpu", c.Controller(2))
	assert.Empty(t, c.CgroupPath(1<<62, 0))

	// The process is gone: the cached identity stays until the TTL.
	require.NoError(t, os.RemoveAll(filepath.Join(proc, "42")))
	assert.Equal(t, id, c.Lookup(42).ContainerID)
	assert.Equal(t, 2, c.SeccompMode(42), "seccomp mode cached like the identity")
	c.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	assert.Equal(t, Info{}, c.Lookup(42))
	assert.Equal(t, -1, c.SeccompMode(42), "unknown once the cache entry expired")
}

func TestIOLimitFixture(t *testing.T) {
	dir := t.TempDir()
	proc, cg := filepath.Join(dir, "proc"), filepath.Join(dir, "cgroup")
	require.NoError(t, os.MkdirAll(filepath.Join(cg, "blkio", "victim"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cg, "blkio", "victim", "blkio.throttle.write_iops_device"), []byte("7:0 10\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cg, "blkio", "victim", "blkio.throttle.read_bps_device"), []byte(""), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(cg, "pod"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cg, "pod", "io.max"), []byte("8:0 rbps=max wbps=1048576 riops=max wiops=max\n"), 0o644))
	for pid, content := range map[string]string{
		"1": "5:blkio:/victim\n0::/\n",
		"2": "0::/pod\n",
		"3": "5:blkio:/\n0::/\n",
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(proc, pid), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(proc, pid, "cgroup"), []byte(content), 0o644))
	}
	c := New(proc, cg, 16, time.Minute)
	c.v2Root = cg // pure v2 layout for pid 2
	assert.Equal(t, "write_iops_device=7:0 10", c.IOLimit(1))
	assert.Equal(t, "io.max=8:0 rbps=max wbps=1048576 riops=max wiops=max", c.IOLimit(2))
	assert.Empty(t, c.IOLimit(3))
	assert.Empty(t, c.IOLimit(4))
}
