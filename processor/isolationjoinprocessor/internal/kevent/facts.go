package kevent

import (
	"strconv"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
)

// DiskWait reports a slow syscall that waited for a disk (layers.DiskWait:
// fsync and the like, positional writes).
func (e *Event) DiskWait() bool {
	return e.Name == contract.EventSyscallSlow && e.Detail != nil && layers.DiskWait(e.Detail.SyscallPhase, e.Detail.SyscallName)
}

// Facts fills f with what e says for the layers table: the facts an
// indexed event keeps (no driver, IO or CPU limit, queue time).
func (e *Event) Facts(f *layers.Facts) {
	f.Event, f.Layer, f.Exe, f.CgroupPath = e.Name, e.Layer, e.Exe, e.CgroupPath
	d := e.Detail
	if d == nil {
		return
	}
	f.SyscallName, f.SyscallPhase = d.SyscallName, d.SyscallPhase
	if d.SeccompMode != 0 {
		f.SeccompMode = strconv.FormatInt(d.SeccompMode, 10)
	}
	f.DropReason, f.Interface = d.DropReason, d.Interface
	f.BlockDevice, f.BlockOp, f.BlockBackingDevice = d.BlockDevice, d.BlockOp, d.BackingDevice
	if e.Name == contract.EventBlockIO {
		f.BlockLatencyNs = e.DurationNs
	}
}
