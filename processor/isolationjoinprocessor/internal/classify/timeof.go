package classify

import (
	"cmp"
	"slices"
	"time"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// chargedTime is the time e costs the span [from, to] among events: its
// own time (timeOf), except that a drop alone costs nothing (the delay is
// the loss recovery, the retransmit it causes) and a retransmit without a
// measured wait costs the time since the drop that caused it, when seen.
func (c *Classifier) chargedTime(e *kevent.Event, events []*kevent.Event, from, to int64) int64 {
	t := c.timeOf(e, from, to)
	switch e.Name {
	case contract.EventTCPRetransmit:
		if t > 0 && e.DurationNs <= 0 {
			if d := lastDropBefore(events, e); d != nil {
				// The segment was lost at the drop and recovered at
				// this retransmit: that is the time the loss cost.
				t = max(min(e.Time, to)-max(d.Time, from), 0)
			}
		}
	case contract.EventSKBDrop:
		t = 0
	}
	return t
}

// timeOf is the time e takes out of the span [from, to]: the overlap of
// the interval it reports (it is stamped at its end) with the span; a
// throttling record over a longer interval, its throttled time in
// proportion to the interval's overlap with the span; or, for an event
// that has no duration and happened inside the span, the fixed cost
// capped at the span's duration. An instantaneous event outside the span
// (a drop after the response) costs the span nothing.
func (c *Classifier) timeOf(e *kevent.Event, from, to int64) int64 {
	if e.Name == contract.EventTCPRetransmit && e.DurationNs > 0 {
		// The receiver measured what the segment waited since its
		// previous transmission: the span waited for the part of that
		// inside it (a pooled connection's retransmit of another
		// exchange's segment, or a probe's few milliseconds, is not a
		// 200ms loss of this span).
		return max(min(e.Time, to)-max(e.Time-e.DurationNs, from), 0)
	}
	var minimum time.Duration
	switch e.Name {
	case contract.EventSchedDelay:
		minimum = c.th.MinSchedDelay
	case contract.EventSyscallSlow:
		minimum = c.th.MinSyscall
	case contract.EventBlockIO:
		minimum = c.th.MinBlockLatency
	case contract.EventCgroupThrottle, contract.EventCPUSteal:
	case contract.EventTCPConnection:
		return 0
	default:
		if e.Time < from || e.Time > to {
			return 0
		}
		return min(int64(c.th.EventCost), to-from)
	}
	if e.DurationNs < int64(minimum) || e.DurationNs <= 0 {
		return 0
	}
	if d := e.Detail; d != nil && d.IntervalNs > 0 {
		// The record sums a period: [IntervalStart, +IntervalNs].
		istart, iend := d.IntervalStart, d.IntervalStart+d.IntervalNs
		ov := min(iend, to) - max(istart, from)
		if ov <= 0 {
			return 0
		}
		return min(int64(float64(e.DurationNs)*float64(ov)/float64(d.IntervalNs)), ov)
	}
	start, end := max(e.Time-e.DurationNs, from), min(e.Time, to)
	if end <= start {
		// Stamped inside the window but reported as ending there: at least
		// the part that the event's own timestamp places in the window.
		return 0
	}
	return end - start
}

func (c *Classifier) sum(ev *Evidence, e *kevent.Event, t int64) {
	switch e.Name {
	case contract.EventCgroupThrottle:
		ev.ThrottledMs += nsToMs(t)
		ev.ThrottlePeriod += max(e.D().ThrottledPeriods, 0)
	case contract.EventSchedDelay:
		ev.SchedDelayMs += nsToMs(t)
	case contract.EventSyscallSlow:
		ev.SyscallSlowMs += nsToMs(t)
	case contract.EventBlockIO:
		ev.BlockIOSlowMs += nsToMs(t)
	}
}

// lastDropBefore is the latest drop on r's connection (either direction)
// at or before the retransmit r, nil when none was seen.
func lastDropBefore(events []*kevent.Event, r *kevent.Event) *kevent.Event {
	if !r.Local.IsValid() || !r.Peer.IsValid() {
		return nil
	}
	var last *kevent.Event
	for _, d := range events {
		if d.Name != contract.EventSKBDrop || d.Time > r.Time {
			continue
		}
		same := (d.Local == r.Local && d.Peer == r.Peer) || (d.Local == r.Peer && d.Peer == r.Local)
		if same && (last == nil || d.Time > last.Time) {
			last = d
		}
	}
	return last
}

// ival is the part of a measured wait inside the span, for one layer.
type ival struct {
	layer      int
	start, end int64
}

// unionInto adds to measured, per layer, the length of the union of the
// intervals.
func unionInto(measured *[numLayers]int64, iv []ival) {
	if len(iv) == 0 {
		return
	}
	slices.SortFunc(iv, func(a, b ival) int {
		if c := cmp.Compare(a.layer, b.layer); c != 0 {
			return c
		}
		return cmp.Compare(a.start, b.start)
	})
	cur := iv[0]
	for _, x := range iv[1:] {
		if x.layer == cur.layer && x.start <= cur.end {
			cur.end = max(cur.end, x.end)
			continue
		}
		if cur.end > cur.start {
			measured[cur.layer] += cur.end - cur.start
		}
		cur = x
	}
	if cur.end > cur.start {
		measured[cur.layer] += cur.end - cur.start
	}
}

func nsToMs(ns int64) float64 { return float64(ns) / 1e6 }
