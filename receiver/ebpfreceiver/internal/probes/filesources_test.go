package probes

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

func TestParseCPUStat(t *testing.T) {
	v1, ok := ParseCPUStat([]byte("nr_periods 20\nnr_throttled 7\nthrottled_time 630000000\n"))
	require.True(t, ok)
	assert.Equal(t, CPUStat{NrPeriods: 20, NrThrottled: 7, ThrottledNs: 630000000}, v1)
	v2, ok := ParseCPUStat([]byte("usage_usec 100\nuser_usec 50\nsystem_usec 50\nnr_periods 20\nnr_throttled 7\nthrottled_usec 630000\nnr_bursts 0\nburst_usec 0\n"))
	require.True(t, ok)
	assert.Equal(t, CPUStat{NrPeriods: 20, NrThrottled: 7, ThrottledNs: 630000000}, v2)
	_, ok = ParseCPUStat([]byte("usage_usec 100\n"))
	assert.False(t, ok, "root cgroup of v2 has no throttling fields")
}

const containerID = "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"

// The cgroup v2 code path over a fixture tree shaped like a pure v2 node
// with a kubepods container.
func TestCgroupThrottleV2FixtureTree(t *testing.T) {
	root := t.TempDir()
	rel := "/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + containerID + ".scope"
	dir := filepath.Join(root, rel)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	write := func(throttled, usec int) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "cpu.stat"),
			[]byte("usage_usec 1\nnr_periods 100\nnr_throttled "+itoa(throttled)+"\nthrottled_usec "+itoa(usec)+"\n"), 0o644))
	}
	write(3, 1000)
	c := &cgroupThrottle{roots: []string{root}, max: 16, last: map[string]throttleState{}}
	t0 := time.Unix(1000, 0)
	c.poll(t0, nil)

	logs := plog.NewLogRecordSlice()
	c.poll(t0.Add(time.Second), &logs)
	assert.Equal(t, 0, logs.Len(), "not throttled in the interval")

	write(5, 241000)
	c.poll(t0.Add(2*time.Second), &logs)
	require.Equal(t, 1, logs.Len())
	lr := logs.At(0)
	assert.Equal(t, contract.EventCgroupThrottle, lr.EventName())
	assert.Equal(t, t0.Add(2*time.Second).UnixNano(), lr.Timestamp().AsTime().UnixNano(), "Timestamp is the interval's end")
	assert.Equal(t, map[string]any{
		contract.AttrCgroupPath:             rel,
		contract.AttrContainerID:            containerID,
		contract.AttrCgroupThrottledNs:      int64(240 * time.Millisecond),
		contract.AttrCgroupThrottledPeriods: int64(2),
		contract.AttrIntervalStart:          t0.Add(time.Second).UnixNano(),
		contract.AttrIntervalNs:             int64(time.Second),
		contract.AttrIsolationLayer:         contract.LayerL3,
	}, lr.Attributes().AsRaw())

	// A removed cgroup is forgotten.
	require.NoError(t, os.RemoveAll(dir))
	c.poll(t0.Add(3*time.Second), &logs)
	assert.Empty(t, c.last[root+":"+rel])
}

func TestCPUStealFixture(t *testing.T) {
	dir := t.TempDir()
	stat := filepath.Join(dir, "stat")
	write := func(steal0, steal1 int) {
		require.NoError(t, os.WriteFile(stat, []byte(
			"cpu  10 0 10 100 0 0 0 "+itoa(steal0+steal1)+" 0 0\n"+
				"cpu0 5 0 5 50 0 0 0 "+itoa(steal0)+" 0 0\n"+
				"cpu1 5 0 5 50 0 0 0 "+itoa(steal1)+" 0 0\nintr 1\n"), 0o644))
	}
	write(10, 10)
	assert.Equal(t, map[int]time.Duration{0: 100 * time.Millisecond, 1: 100 * time.Millisecond}, ParseProcStatSteal(mustRead(t, stat)))
	s := &cpuSteal{path: stat, threshold: 50 * time.Millisecond}
	t0 := time.Unix(1000, 0)
	require.NoError(t, s.poll(t0, nil))
	write(18, 12) // cpu0 +80ms, cpu1 +20ms
	logs := plog.NewLogRecordSlice()
	require.NoError(t, s.poll(t0.Add(time.Second), &logs))
	require.Equal(t, 1, logs.Len())
	a := logs.At(0).Attributes().AsRaw()
	assert.Equal(t, int64(0), a[contract.AttrCPU])
	assert.Equal(t, int64(80*time.Millisecond), a[contract.AttrCPUStealNs])
	assert.Equal(t, contract.LayerL1, a[contract.AttrIsolationLayer])
}

// Steal from the real /proc/stat: one entry per CPU.
func TestCPUStealRealProcStat(t *testing.T) {
	raw := mustRead(t, "/proc/stat")
	steal := ParseProcStatSteal(raw)
	require.NotEmpty(t, steal)
	for cpu, d := range steal {
		assert.GreaterOrEqual(t, d, time.Duration(0), "cpu%d", cpu)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

func itoa(n int) string { return strconv.Itoa(n) }
