package procinfo

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	id := strings.Repeat("ab12", 16)
	tests := []struct {
		name string
		in   string
		want Info
	}{
		{"v2 docker", "0::/system.slice/docker-" + id + ".scope\n", Info{CgroupPath: "/system.slice/docker-" + id + ".scope", ContainerID: id}},
		{"v2 kubepods", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-" + id + ".scope\n",
			Info{CgroupPath: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-" + id + ".scope", ContainerID: id}},
		{"hybrid, v1 informative", "12:cpu,cpuacct:/docker/" + id + "\n4:memory:/docker/" + id + "\n0::/\n", Info{CgroupPath: "/docker/" + id, ContainerID: id}},
		{"host process", "0::/user.slice/session-1.scope\n", Info{CgroupPath: "/user.slice/session-1.scope"}},
		{"garbage", "nonsense", Info{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Parse([]byte(tt.in)))
		})
	}
}

func TestLookupOwnProcess(t *testing.T) {
	r := New("/proc", time.Minute, 2)
	want, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	info, ok := r.Lookup(uint32(os.Getpid()), time.Now())
	require.True(t, ok)
	assert.Equal(t, Parse(want), info)
	assert.NotEmpty(t, info.CgroupPath)

	// A pid that cannot exist (above pid_max) is reported as gone.
	_, ok = r.Lookup(1<<31, time.Now())
	assert.False(t, ok)
	// The cache stays bounded.
	_, _ = r.Lookup(1, time.Now())
	assert.LessOrEqual(t, len(r.cache), 2)
}
