package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const id = "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"

func TestContainerID(t *testing.T) {
	other := strings.Repeat("e", 64)
	for path, want := range map[string]string{
		"/system.slice/docker-" + id + ".scope": id,
		"/docker/" + id:                         id,
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-" + id + ".scope": id,
		"/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope":                                              id,
		"/kubepods/burstable/pod1234/" + id:                                                                      id,
		"/system.slice/containerd.service/kubepods-pod1/" + id:                                                   id,
		"/user.slice/user-0.slice/session-1.scope":                                                               "",
		"/crosshair-test-x": "",
		"/some/" + id:       "", // a hex name alone is not a container
		"/":                 "",
		// A short (12-hex) id is a display name, never a runtime's cgroup.
		"/system.slice/docker-" + id[:12] + ".scope": "",
		"/system.slice/mydocker-" + id + ".scope":    "",
		// Issue 14 row 11: spoofing through delegated cgroups.
		"/user.slice/user-1000.slice/user@1000.service/app.slice/docker-" + id + ".scope": "",
		"/system.slice/docker-" + id + ".scope/docker-" + other + ".scope":                id,
		"/kubepods/burstable/pod1234/" + id + "/" + other:                                 id,
	} {
		assert.Equal(t, want, ContainerID(path), path)
		assert.Equal(t, want, ParseCgroup(path).ContainerID, path)
	}
}

func TestParseCgroup(t *testing.T) {
	tests := []struct {
		path string
		want Cgroup
	}{
		{"/", Cgroup{}},
		{"/user.slice/user-0.slice/session-1.scope", Cgroup{}},
		// Issue 14 row 11: a user's delegated cgroup named after a container.
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/docker-" + id + ".scope", Cgroup{}},
		{"/user.slice/kubepods/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/" + id, Cgroup{}},
		{"/system.slice/docker-" + id + ".scope", Cgroup{Runtime: "docker", ContainerID: id}},
		{"/docker/" + id, Cgroup{Runtime: "docker", ContainerID: id}},
		{"/system.slice/crio-" + id + ".scope", Cgroup{Runtime: "crio", ContainerID: id}},
		{"/machine.slice/libpod-" + id + ".scope", Cgroup{Runtime: "podman", ContainerID: id}},
		{
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-" + id + ".scope",
			Cgroup{Runtime: "containerd", ContainerID: id, PodUID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		},
		{
			"/kubepods/besteffort/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/" + id,
			Cgroup{Runtime: "kubepods", ContainerID: id, PodUID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		},
		{"/kubepods/burstable", Cgroup{Runtime: "kubepods"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ParseCgroup(tt.path), tt.path)
	}
}

func TestPickPath(t *testing.T) {
	hybrid := ParseCgroupFile([]byte("12:pids:/\n3:cpu:/docker/" + id + "\n2:memory:/docker/" + id + "\n1:name=systemd:/x\n0::/\n"))
	assert.Equal(t, "/docker/"+id, PickPath(hybrid))
	v2 := ParseCgroupFile([]byte("0::/system.slice/docker-" + id + ".scope\n"))
	assert.Equal(t, "/system.slice/docker-"+id+".scope", PickPath(v2))
	root := ParseCgroupFile([]byte("0::/\n"))
	assert.Equal(t, "/", PickPath(root))
	assert.Empty(t, PickPath(nil))
}

func TestParseCgroupFile(t *testing.T) {
	got := ParseCgroupFile([]byte("12:cpu,cpuacct:/a\nnot a line\nx:y:z\n0::/b\n"))
	require.Len(t, got, 2)
	assert.Equal(t, Entry{HierarchyID: 12, Controllers: []string{"cpu", "cpuacct"}, Path: "/a"}, got[0])
	assert.True(t, got[0].Has("cpu"))
	assert.False(t, got[0].Unified())
	assert.True(t, got[1].Unified())
}

// This process's own cgroup file parses: the kernel's format, not a fixture.
func TestReadCgroupFileOfThisProcess(t *testing.T) {
	entries, err := ReadCgroupFile("/proc", int64(os.Getpid()))
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	assert.NotEmpty(t, PickPath(entries))
	_, err = ReadCgroupFile(t.TempDir(), 1)
	assert.Error(t, err)
}

func TestParseSeccompMode(t *testing.T) {
	assert.Equal(t, SeccompFilter, ParseSeccompMode([]byte("Name:\tx\nSeccomp:\t2\nSeccomp_filters:\t1\n")))
	assert.Equal(t, SeccompDisabled, ParseSeccompMode([]byte("Seccomp:\t0\n")))
	assert.Equal(t, -1, ParseSeccompMode([]byte("Name:\tx\n")))
	assert.Equal(t, -1, ParseSeccompMode([]byte("Seccomp:\tx\n")))
	_, err := ReadSeccompMode(t.TempDir(), 1)
	assert.Error(t, err, "process gone")
	mode, err := ReadSeccompMode("/proc", int64(os.Getpid()))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, mode, SeccompDisabled)
}

func TestSandboxRuntime(t *testing.T) {
	for _, comm := range []string{"runsc", "runsc-gofer", "runsc-sandbox", "kata-agent", "containerd-shim-kata-v2", "kata-runtime", "firecracker", "wasmtime", "wasmedge"} {
		assert.True(t, SandboxRuntime(comm), comm)
	}
	// "exe" is gVisor's sandbox before it renames itself, and every other
	// re-exec'd program; containerd-shim (comm truncated to 15 bytes) is
	// runc's shim as much as Kata's.
	for _, comm := range []string{"", "exe", "containerd-shim", "sh", "run"} {
		assert.False(t, SandboxRuntime(comm), comm)
	}
	assert.Equal(t, "gvisor", Sandbox("runsc-gofer"))
	assert.Equal(t, "kata", Sandbox("containerd-shim-kata-v2"))
}

func TestSandboxAncestryOverFixtureTree(t *testing.T) {
	proc := t.TempDir()
	write := func(pid, file, content string) {
		require.NoError(t, os.MkdirAll(filepath.Join(proc, pid), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(proc, pid, file), []byte(content), 0o644))
	}
	// 30 (app) ← 20 (exe, linked to runsc) ← 10 (sh) ← 1.
	write("30", "comm", "app\n")
	write("30", "stat", "30 (a) b) S 20 30 30 0")
	write("20", "comm", "exe\n")
	write("20", "stat", "20 (exe) S 10 20 20 0")
	require.NoError(t, os.Symlink("/usr/local/bin/runsc", filepath.Join(proc, "20", "exe")))
	write("10", "comm", "sh\n")
	write("10", "stat", "10 (sh) S 1 10 10 0")
	write("40", "comm", "other\n")
	write("40", "stat", "40 (other) S 10 40 40 0")

	assert.Equal(t, "gvisor", SandboxAncestry(proc, 30))
	assert.Empty(t, SandboxAncestry(proc, 40))
	assert.Empty(t, SandboxAncestry(proc, 99), "process gone")
	assert.Equal(t, int64(20), PPid("30 (a) b) S 20 30 30 0"))
	assert.Zero(t, PPid("garbage"))
}
