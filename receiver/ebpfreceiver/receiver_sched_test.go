package ebpfreceiver

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// The fsync child (run by TestSlowFsyncBehindThrottledLoop inside a
// throttled blkio cgroup): writes 256 KiB to the block device's page cache,
// times fsync and writes "<tid> <ns>" to CROSSHAIR_FSYNC_OUT.
func init() {
	dev := os.Getenv("CROSSHAIR_FSYNC_CHILD")
	if dev == "" {
		return
	}
	runtime.LockOSThread()
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		os.Exit(2)
	}
	if _, err := f.Write(make([]byte, 256<<10)); err != nil {
		os.Exit(3)
	}
	start := time.Now()
	if err := unix.Fsync(int(f.Fd())); err != nil {
		os.Exit(4)
	}
	wall := time.Since(start)
	if err := os.WriteFile(os.Getenv("CROSSHAIR_FSYNC_OUT"), []byte(fmt.Sprintf("%d %d", unix.Gettid(), wall.Nanoseconds())), 0o600); err != nil {
		os.Exit(5)
	}
	// Like a server, live on after the call: the IO limit is read from
	// /proc/<pid> when the record is decoded.
	time.Sleep(time.Second)
	os.Exit(0)
}

// within10 asserts got is within 10% of want.
func within10(t *testing.T, want, got time.Duration, what string) {
	t.Helper()
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	assert.LessOrEqual(t, diff, want/10, "%s: measured %v by the wall clock, %v by the probe", what, want, got)
}

// syscallRecords are the kernel.syscall.slow records of thread tid for
// syscall name.
func syscallRecords(sink *consumertest.LogsSink, tid int, name string) []plog.LogRecord {
	return recordsWhere(sink, contract.EventSyscallSlow, func(lr plog.LogRecord) bool {
		a := lr.Attributes()
		return integer(a, contract.AttrThreadID) == int64(tid) && str(a, contract.AttrSyscallName) == name
	})
}

// An fsync whose writeback is held by blkio throttling on a loop device:
// the thread sleeps inside fsync until the throttled bios complete. The
// probe sees that wait at sched_switch (no syscall tracepoint is attached)
// and reports it as one slow fsync body with the wall time of the call.
func TestSlowFsyncBehindThrottledLoop(t *testing.T) {
	testenv.RequireRoot(t, "losetup")
	dev, majMin := testenv.LoopDevice(t, 16)
	const rate = 512 << 10 // bytes/s
	cg := testenv.NewCgroupV1(t, "blkio", "fsync", map[string]string{"blkio.throttle.write_bps_device": majMin + " " + strconv.Itoa(rate)})
	sink := new(consumertest.LogsSink)
	// With sched_delay, one sched_switch program tracks both (the other
	// syscall tests run syscall_slow's own object).
	startReceiver(t, hostConfig("sched_delay", "syscall_slow"), sink, nil)

	// The probes' programs are all tp_btf: no syscall tracepoint, whose
	// mere attachment slows every syscall of the node.
	for _, id := range testenv.OwnPrograms(t) {
		p, err := ebpf.NewProgramFromID(id)
		require.NoError(t, err)
		info, err := p.Info()
		_ = p.Close()
		require.NoError(t, err)
		assert.Equal(t, ebpf.Tracing, info.Type, "program %s is a %v, not tp_btf", info.Name, info.Type)
	}

	out := filepath.Join(t.TempDir(), "fsync")
	child := testenv.StartInCgroup(t, "exec env CROSSHAIR_FSYNC_CHILD="+dev+" CROSSHAIR_FSYNC_OUT="+out+" "+os.Args[0]+" -test.run=^$", cg)
	require.NoError(t, child.Wait())
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var tid int
	var wallNs int64
	_, err = fmt.Sscanf(string(raw), "%d %d", &tid, &wallNs)
	require.NoError(t, err, "child wrote %q", raw)
	wall := time.Duration(wallNs)
	require.Greater(t, wall, 200*time.Millisecond, "the throttle did not hold the fsync")

	var rec plog.LogRecord
	require.Eventually(t, func() bool {
		recs := syscallRecords(sink, tid, "fsync")
		if len(recs) > 0 {
			rec = recs[0]
		}
		return len(recs) > 0
	}, 5*time.Second, 50*time.Millisecond, "kernel.syscall.slow fsync for thread %d", tid)
	assert.Len(t, syscallRecords(sink, tid, "fsync"), 1, "one fsync, one record")
	a := rec.Attributes()
	assert.Equal(t, "body", str(a, contract.AttrSyscallPhase))
	within10(t, wall, time.Duration(integer(a, contract.AttrSyscallLatencyNs)), "fsync")
	assert.Greater(t, integer(a, contract.AttrSyscallOffCPUNs), integer(a, contract.AttrSyscallLatencyNs)*9/10, "fsync waits off CPU")
	assert.Equal(t, "write_bps_device="+majMin+" "+strconv.Itoa(rate), str(a, contract.AttrCgroupIOLimit))
	assert.Equal(t, contract.LayerL3, str(a, contract.AttrIsolationLayer))
	t.Logf("fsync: wall %v, probe %v", wall, time.Duration(integer(a, contract.AttrSyscallLatencyNs)))
}
