package classify

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// Two threads of the span's process sat throttled at once (they wait for
// the same unthrottle): the span was stalled once, for the union.
func TestOverlappingThreadThrottlingCountsOnce(t *testing.T) {
	a := &kevent.Event{Name: contract.EventCgroupThrottle, Layer: contract.LayerL3, PID: 7, Time: 90 * msec, DurationNs: 80 * msec}
	b := &kevent.Event{Name: contract.EventCgroupThrottle, Layer: contract.LayerL3, PID: 7, Time: 95 * msec, DurationNs: 75 * msec}
	v := New(nil, DefaultThresholds).Verdict([]*kevent.Event{a, b}, 0, 100*msec)
	assert.Equal(t, contract.LayerL3, v.Layer)
	assert.InDelta(t, 85.0, v.Evidence.ThrottledMs, 1e-9, "[10ms, 95ms], not 80ms + 75ms")
	assert.Contains(t, v.Cause, "(85ms)")
}

// A process's thread throttled for a few ms during a short span: evidence
// listed, no verdict — the span's own thread may not have been stalled
// (like a prorated share, it must reach MinProratedTime).
func TestShortThreadThrottlingIsNoVerdict(t *testing.T) {
	c := New(nil, DefaultThresholds)
	short := &kevent.Event{Name: contract.EventCgroupThrottle, Layer: contract.LayerL3, PID: 7, Time: 7 * msec, DurationNs: 4 * msec}
	v := c.Verdict([]*kevent.Event{short}, 0, 8*msec)
	assert.Equal(t, contract.LayerApp, v.Layer, v.Cause)
	assert.Contains(t, v.Cause, "cgroup cpu throttled 4ms")
	long := &kevent.Event{Name: contract.EventCgroupThrottle, Layer: contract.LayerL3, PID: 7, Time: 30 * msec, DurationNs: 14 * msec}
	v = c.Verdict([]*kevent.Event{long}, 0, 30*msec)
	assert.Equal(t, contract.LayerL3, v.Layer, v.Cause)
}
