// Watermark records: the receiver's promise of how far its node's records have been sent (contract.EventWatermark).
package ebpfreceiver

import (
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/bootclock"
	"github.com/crosshair-otel/crosshair/internal/contract"
)

// backdated is how far before the poll the watermark stays, for the
// records written after the time they are stamped with: the scheduler
// programs stamp a syscall's wait when it ended but write it at the
// thread's next switch-out, and a sandbox's trap window when the thread
// comes back from a long stop. In the fresh-clone CI's e2e (all six
// scenarios, decode time minus stamp) such records came up to 70ms late
// (p99; 513ms at most) for syscall waits and 262ms (p99; 4.9s at most)
// for trap windows; with the join's slack (100ms) past a span's end,
// 200ms here covers both at the 99th percentile. A later one can miss a
// span released on the watermark, as it could miss one released on the
// assumed waits before (a second more).
const backdated = 200 * time.Millisecond

// watermark tracks how far every source of the node has been swept. Most
// records are stamped when they are written to the ring buffer, but some
// arrive later than their stamp says: an accepted socket's owner, claimed
// by the poll's walk and stamped at the accept; a polled sum, stamped at
// its interval's end; a kernel log line, read at the next poll. Once a
// poll that started at T has sent its records (and its walk written its
// claims), and the ring buffer has then been read empty, every record
// about anything up to T has been sent: stamped at or before T, and every
// polled sum whose interval starts before T (the next starts at T) — but
// for the records written after their stamp (backdated), so the
// watermark is T less that.
type watermark struct {
	clock *bootclock.Clock
	// swept is the start of the last poll whose records have been sent
	// (unix ns, on the events' clock); 0 before the first.
	swept atomic.Int64
	sent  int64 // the last watermark sent; only the goroutine that sends them touches it
}

// pollStart is the time a poll starts, on the clock the events are
// stamped with (CLOCK_BOOTTIME converted as the decoder converts it), so
// a drift of the wall clock cannot move it past an event's stamp.
func (w *watermark) pollStart() int64 {
	return w.clock.Wall(bootclock.Now()).UnixNano()
}

// polled records that the poll started at start has sent its records.
func (w *watermark) polled(start int64) { w.swept.Store(start) }

// appendTo appends a watermark record to records when the sweep moved
// past the last one sent. swept must have been read before the ring
// buffer was last found empty (or, with no ring buffer, after the poll).
func (w *watermark) appendTo(records plog.LogRecordSlice, swept int64) {
	t := swept - int64(backdated)
	if swept == 0 || t <= w.sent {
		return
	}
	w.sent = t
	lr := records.AppendEmpty()
	lr.SetEventName(contract.EventWatermark)
	lr.SetTimestamp(pcommon.Timestamp(t))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
}
