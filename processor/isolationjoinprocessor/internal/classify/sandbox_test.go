package classify

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// A gVisor stub's syscall traps summed over a burst of work: a 10ms span
// inside an 8ms-long burst holding 5ms of traps is charged the 5ms as
// measured time (over MinTime, under MinProratedTime): L4. Half the burst
// outside the span charges half.
func TestSandboxTrapsAreMeasured(t *testing.T) {
	c := New(nil, DefaultThresholds)
	traps := func(start, end, sum int64) *kevent.Event {
		return &kevent.Event{Name: contract.EventSyscallSlow, Layer: contract.LayerL4, PID: 7, Time: end, DurationNs: sum,
			Detail: &kevent.Detail{SyscallName: "read", SyscallPhase: "sandbox", IntervalStart: start, IntervalNs: end - start}}
	}
	v := c.Verdict([]*kevent.Event{traps(1*msec, 9*msec, 5*msec)}, 0, 10*msec)
	assert.Equal(t, contract.LayerL4, v.Layer, v.Cause)
	assert.Contains(t, v.Cause, "sandbox syscall traps 5ms")

	// The same burst mostly before the span: 1ms of it inside, no verdict.
	v = c.Verdict([]*kevent.Event{traps(1*msec, 9*msec, 5*msec)}, 7*msec, 17*msec)
	assert.Equal(t, contract.LayerApp, v.Layer, v.Cause)
}
