package ebpfreceiver

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// ddArgs copies byte by byte between two devices: two syscalls per byte,
// no IO wait, so inside gVisor nearly all of its time is syscall traps.
var ddArgs = []string{"/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=4000"}

// TestGVisorSyscallTraps runs dd inside gVisor (runsc, ptrace platform):
// its stub threads stop traced at every syscall while the Sentry runs it.
// The receiver sums those stops into kernel.syscall.slow records of phase
// "sandbox" in the Sentry's name, classified L4; the same dd outside the
// sandbox gets none. Both sched_switch programs are covered: syscall.c on
// its own and sched.c tracking the syscall waits.
func TestGVisorSyscallTraps(t *testing.T) {
	for _, probes := range [][]string{{"syscall_slow"}, {"sched_delay", "syscall_slow"}} {
		t.Run(strings.Join(probes, "+"), func(t *testing.T) {
			testenv.RequireRoot(t, "runsc")
			sink := new(consumertest.LogsSink)
			startReceiver(t, hostConfig(probes...), sink, nil)
			traps := func(pid int) []plog.LogRecord {
				return recordsWhere(sink, contract.EventSyscallSlow, func(lr plog.LogRecord) bool {
					a := lr.Attributes()
					return integer(a, contract.AttrProcessPID) == int64(pid) && str(a, contract.AttrSyscallPhase) == "sandbox"
				})
			}

			sb := testenv.StartGVisor(t, nil, ddArgs...)
			select {
			case <-sb.Done:
			case <-time.After(60 * time.Second):
				t.Fatal("dd in gVisor did not finish in 60s")
			}
			require.Eventually(t, func() bool { return len(traps(sb.SentryPID)) > 0 }, 5*time.Second, 50*time.Millisecond,
				"kernel.syscall.slow phase=sandbox for the Sentry (pid %d)", sb.SentryPID)
			time.Sleep(300 * time.Millisecond) // the last windows
			var sum, count int64
			for _, lr := range traps(sb.SentryPID) {
				a := lr.Attributes()
				assert.Equal(t, contract.LayerL4, str(a, contract.AttrIsolationLayer))
				assert.NotEqual(t, int64(sb.SentryPID), integer(a, contract.AttrThreadID), "the thread is the traced stub, not a Sentry thread")
				lat := integer(a, contract.AttrSyscallLatencyNs)
				window := integer(a, contract.AttrIntervalNs)
				assert.Positive(t, window, "the window the traps were summed over")
				assert.LessOrEqual(t, lat, window, "traps fit in their window")
				assert.Positive(t, integer(a, contract.AttrIntervalStart))
				sum += lat
				count += integer(a, contract.AttrSyscallSandboxTraps)
			}
			// dd made two syscalls per byte; windows under 1ms of traps are
			// not records, and dd's setup is not counted here.
			assert.GreaterOrEqual(t, count, int64(4000), "traps summed")
			assert.GreaterOrEqual(t, sum, int64(4000*time.Microsecond), "trap time summed (≥1µs a trap)")
			t.Logf("gVisor dd: %d traps, %v trapped", count, time.Duration(sum))

			// The same dd outside the sandbox: no traps.
			plain := exec.Command(ddArgs[0], ddArgs[1:]...)
			require.NoError(t, plain.Run())
			time.Sleep(300 * time.Millisecond)
			assert.Empty(t, traps(plain.Process.Pid), "sandbox traps of the unsandboxed dd")
		})
	}
}
