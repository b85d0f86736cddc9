// Package bootclock converts kernel CLOCK_BOOTTIME timestamps (what
// bpf_ktime_get_boot_ns returns) into wall-clock time.
package bootclock

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Clock holds the offset between CLOCK_REALTIME and CLOCK_BOOTTIME measured
// once. Wall-clock jumps (NTP steps) after the measurement are not followed.
type Clock struct {
	offset int64 // realtime ns − boottime ns
}

// New measures the offset. The two clocks are read back to back, bracketed by
// a second boottime read, and the midpoint is used so the error is at most
// half the (sub-microsecond) read gap.
func New() (*Clock, error) {
	var b1, rt, b2 unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &b1); err != nil {
		return nil, fmt.Errorf("read CLOCK_BOOTTIME: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &rt); err != nil {
		return nil, fmt.Errorf("read CLOCK_REALTIME: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &b2); err != nil {
		return nil, fmt.Errorf("read CLOCK_BOOTTIME: %w", err)
	}
	mid := (b1.Nano() + b2.Nano()) / 2
	return &Clock{offset: rt.Nano() - mid}, nil
}

// Wall converts a CLOCK_BOOTTIME nanosecond value to wall-clock time.
func (c *Clock) Wall(bootNs uint64) time.Time {
	return time.Unix(0, int64(bootNs)+c.offset)
}

// Now returns the current CLOCK_BOOTTIME in nanoseconds.
func Now() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return uint64(ts.Nano())
}
