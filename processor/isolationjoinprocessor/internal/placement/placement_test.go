package placement

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosshair-otel/crosshair/internal/identity"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// This machine is a Firecracker guest with virtio devices (docs/design.md §6).
func TestNodeOnThisMachine(t *testing.T) {
	if _, err := os.Stat("/sys/bus/virtio/devices"); err != nil {
		testenv.SkipOrFail(t, "not the Firecracker development machine: %v", err)
	}
	s, err := FS{Root: "/"}.Node()
	require.NoError(t, err)
	assert.Equal(t, Stack{{"L2", "virtio"}, {"L1", "firecracker"}}, s)
	assert.Equal(t, "L2 virtio/L1 firecracker", s.String())
	assert.Equal(t, "L2", s.Innermost())
}

func TestNodeFromFakeRoots(t *testing.T) {
	write := func(root, p, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(content), 0o644))
	}
	bare := t.TempDir()
	write(bare, "/proc/cpuinfo", "processor : 0\nflags : fpu vme sse\n")
	s, err := FS{Root: bare}.Node()
	require.NoError(t, err)
	assert.Equal(t, "L0 baremetal", s.String())

	qemu := t.TempDir()
	write(qemu, "/proc/cpuinfo", "flags : fpu hypervisor\n")
	write(qemu, "/sys/class/dmi/id/sys_vendor", "QEMU\n")
	s, err = FS{Root: qemu}.Node()
	require.NoError(t, err)
	assert.Equal(t, "L1 qemu-kvm", s.String())
}

func TestProcessIsTheTestItself(t *testing.T) {
	fs := FS{Root: "/"}
	node, err := fs.Node()
	require.NoError(t, err)
	p, err := fs.Process(int64(os.Getpid()), node)
	require.NoError(t, err)
	assert.Empty(t, p.Cgroup.Runtime, "the test runs in no container")
	assert.NotZero(t, p.Netns)
	assert.Equal(t, node, p.Stack)

	_, err = fs.Process(1<<30, node)
	require.Error(t, err, "a pid that does not exist")
}

// startIn starts a sleeping child and moves it into cgroup dir.
func startIn(t *testing.T, dir string) int {
	t.Helper()
	require.NoError(t, os.Mkdir(dir, 0o755))
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// The cgroup can be removed once its last process is gone.
		for range 50 {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o644))
	return cmd.Process.Pid
}

func TestProcessInADockerCgroup(t *testing.T) {
	testenv.RequireRoot(t)
	root := "/sys/fs/cgroup/unified"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		root = "/sys/fs/cgroup" // pure cgroup v2
	}
	cid := fmt.Sprintf("c0ffee%058x", os.Getpid())
	pid := startIn(t, filepath.Join(root, "docker-"+cid+".scope"))

	fs := FS{Root: "/"}
	node, err := fs.Node()
	require.NoError(t, err)
	p, err := fs.Process(int64(pid), node)
	require.NoError(t, err)
	assert.Equal(t, identity.Cgroup{Runtime: "docker", ContainerID: cid}, p.Cgroup)
	assert.Equal(t, "L3", p.Stack.Innermost())
	assert.Equal(t, append(Stack{{"L3", "docker"}}, node...), p.Stack)
}

func TestProcessUnderASandboxRuntime(t *testing.T) {
	// A child whose parent's executable is named like gVisor's runsc: the
	// process tree puts it in a sandbox (L4).
	dir := t.TempDir()
	runsc := filepath.Join(dir, "runsc")
	require.NoError(t, os.Symlink("/bin/sh", runsc))
	cmd := exec.Command(runsc, "-c", "sleep 60 & wait")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var child int64
	require.Eventually(t, func() bool {
		out, err := exec.Command("pgrep", "-P", fmt.Sprint(cmd.Process.Pid), "sleep").Output()
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(out), &child)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	t.Cleanup(func() { _ = exec.Command("kill", fmt.Sprint(child)).Run() })

	fs := FS{Root: "/"}
	p, err := fs.Process(child, nil)
	require.NoError(t, err)
	assert.Equal(t, Stack{{"L4", "gvisor"}}, p.Stack)
}

func TestProcessCgroupPaths(t *testing.T) {
	tests := []struct {
		name               string
		cgroup             string
		path, cpu, unified string
	}{
		{"hybrid: v1 cpu controller and unified", "12:cpu,cpuacct:/chx-e2e-payment\n4:memory:/chx-e2e-payment\n0::/user.slice\n", "/user.slice", "/chx-e2e-payment", "/user.slice"},
		{"pure v2", "0::/chx-e2e-payment\n", "/chx-e2e-payment", "", "/chx-e2e-payment"},
		{"v1 only, cpu first in the list", "3:cpu:/a\n2:blkio:/b\n", "", "/a", ""},
		{"v1 cpuacct alone is not cpu", "3:cpuacct:/a\n", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(root, "proc", "7"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(root, "proc", "7", "cgroup"), []byte(tt.cgroup), 0o644))
			p, err := FS{Root: root}.Process(7, nil)
			require.NoError(t, err)
			assert.Equal(t, tt.path, p.CgroupPath)
			assert.Equal(t, tt.cpu, p.CPUCgroupPath)
			assert.Equal(t, tt.unified, p.V2CgroupPath)
		})
	}
}
