package probes

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// Issue 14 row 13: cgroups beyond the tracking cap are counted, not
// silently skipped (the machine's real cgroup tree, a cap of 1).
func TestCgroupsOverCapAreCounted(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		testenv.SkipOrFail(t, "no cgroup filesystem")
	}
	// The test's own two cgroups: the machine's tree may have none (a
	// fresh node's cpu hierarchy is often just its root).
	for _, n := range []string{"cap-a", "cap-b"} {
		testenv.NewCgroupV1(t, "cpu", fmt.Sprintf("%s-%d", n, os.Getpid()), nil)
	}
	for _, tc := range []struct {
		max      int
		overZero bool
	}{{1, true}, {0, false}} {
		a, err := attachCgroupThrottle(&attachEnv{host: &HostOptions{CgroupRoot: "/sys/fs/cgroup", maxCgroups: tc.max}})
		if err != nil {
			testenv.SkipOrFail(t, "no cpu hierarchy: %v", err)
		}
		require.NoError(t, a.PollEvents(time.Now(), plog.NewLogRecordSlice()))
		if tc.overZero {
			assert.Positive(t, a.Missed()["cgroups_over_cap"], "a cap of 1 on a machine with more cgroups")
		} else {
			assert.Zero(t, a.Missed()["cgroups_over_cap"], "the default cap")
		}
	}
}

// Issue 14 row 13: kernel log records overwritten before they were read
// are counted from the sequence gap.
func TestKmsgOverwrittenAreCounted(t *testing.T) {
	testenv.RequireRoot(t)
	a, err := attachKernelLog(&attachEnv{host: &HostOptions{KmsgPath: "/dev/kmsg"}})
	require.NoError(t, err)
	defer a.closers[0].Close()
	require.NoError(t, a.PollEvents(time.Now(), plog.NewLogRecordSlice()))
	line := "crosshair-test kmsg overwrite " + strings.Repeat("x", 900)
	// The kernel rate-limits writes per open file (printk_devkmsg): one
	// open per line.
	write := func(i int) {
		require.NoError(t, os.WriteFile("/dev/kmsg", fmt.Appendf(nil, "%s %d\n", line, i), 0o200))
	}
	// One record to fix the reader's position, then more than the log
	// buffer holds (its size is a kernel build option) before the next read.
	write(0)
	require.NoError(t, a.PollEvents(time.Now(), plog.NewLogRecordSlice()))
	for i := 1; i <= 20_000 && a.Missed()["kmsg_overwritten"] == 0; i++ {
		write(i)
		if i%2000 == 0 {
			require.NoError(t, a.PollEvents(time.Now(), plog.NewLogRecordSlice()))
		}
	}
	require.NoError(t, a.PollEvents(time.Now(), plog.NewLogRecordSlice()))
	assert.Positive(t, a.Missed()["kmsg_overwritten"])
}
