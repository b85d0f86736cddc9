package kevent

import (
	"math"
	"strings"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/identity"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// The record attributes FromRecord reads, as slots of one pass over the
// record's attributes (Map.Get per key would scan them once per key).
const (
	rLayer = iota
	rLocalAddr
	rLocalPort
	rPeerAddr
	rPeerPort
	rNetns
	rPID
	rContainerID
	rCgroupPath
	rExe
	rRetransmits
	rSrttUs
	rDropReason
	rInterface
	rSchedDelayNs
	rThrottledNs
	rThrottledPeriods
	rStealNs
	rBlockLatencyNs
	rSyscallLatencyNs
	rSyscallName
	rSyscallPhase
	rSeccompMode
	rBlockDevice
	rBlockOp
	rBackingDevice
	rIntervalStart
	rIntervalNs
	rSide
	rRetransmitWaitNs
	rDurationMs
	rPerThread
	rLogDevice
	numRecordSlots
)

func recordSlot(key string) int {
	switch key {
	case contract.AttrIsolationLayer:
		return rLayer
	case contract.AttrNetworkLocalAddress:
		return rLocalAddr
	case contract.AttrNetworkLocalPort:
		return rLocalPort
	case contract.AttrNetworkPeerAddress:
		return rPeerAddr
	case contract.AttrNetworkPeerPort:
		return rPeerPort
	case contract.AttrNetnsInode:
		return rNetns
	case contract.AttrProcessPID:
		return rPID
	case contract.AttrContainerID:
		return rContainerID
	case contract.AttrCgroupPath:
		return rCgroupPath
	case contract.AttrProcessExecutable:
		return rExe
	case contract.AttrTCPRetransmits:
		return rRetransmits
	case contract.AttrTCPSrttUs:
		return rSrttUs
	case contract.AttrSKBDropReason:
		return rDropReason
	case contract.AttrNetworkInterface:
		return rInterface
	case contract.AttrSchedDelayNs:
		return rSchedDelayNs
	case contract.AttrLogDevice:
		return rLogDevice
	case contract.AttrCgroupThrottledNs:
		return rThrottledNs
	case contract.AttrCgroupThrottledPeriods:
		return rThrottledPeriods
	case contract.AttrCPUStealNs:
		return rStealNs
	case contract.AttrBlockLatencyNs:
		return rBlockLatencyNs
	case contract.AttrSyscallLatencyNs:
		return rSyscallLatencyNs
	case contract.AttrSyscallName:
		return rSyscallName
	case contract.AttrSyscallPhase:
		return rSyscallPhase
	case contract.AttrSeccompMode:
		return rSeccompMode
	case contract.AttrBlockDevice:
		return rBlockDevice
	case contract.AttrBlockOp:
		return rBlockOp
	case AttrBlockBackingDevice:
		return rBackingDevice
	case contract.AttrIntervalStart:
		return rIntervalStart
	case contract.AttrIntervalNs:
		return rIntervalNs
	case contract.AttrTCPEstablishedSide:
		return rSide
	case contract.AttrTCPRetransmitWaitNs:
		return rRetransmitWaitNs
	case contract.AttrTCPDurationMs:
		return rDurationMs
	case contract.AttrPerThreadEvidence:
		return rPerThread
	}
	return -1
}

// record holds the first value of each key (what Map.Get would return).
type record struct {
	v     [numRecordSlots]pcommon.Value
	found uint64
}

func (r *record) read(a pcommon.Map) {
	for k, v := range a.All() {
		if i := recordSlot(k); i >= 0 && r.found&(1<<i) == 0 {
			r.v[i] = v
			r.found |= 1 << i
		}
	}
}

func (r *record) str(i int) string {
	if r.found&(1<<i) == 0 {
		return ""
	}
	return StrValue(r.v[i])
}

func (r *record) int(i int) int64 {
	if r.found&(1<<i) == 0 {
		return 0
	}
	return IntValue(r.v[i])
}

// FromRecord reads a kernel-event record. ok is false for records that are
// not kernel events or carry no time (they cannot be placed in a window).
func FromRecord(host string, lr plog.LogRecord) (Event, bool) {
	n := name(lr)
	if !strings.HasPrefix(n, "kernel.") {
		return Event{}, false
	}
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	if ts == 0 || ts > math.MaxInt64 {
		return Event{}, false
	}
	var a record
	a.read(lr.Attributes())
	e := Event{Time: int64(ts), Name: intern(n), Host: host}
	if l, ok := layer(a.str(rLayer)); ok {
		e.Layer = l
	}
	e.Local = AddrPort(a.str(rLocalAddr), a.int(rLocalPort))
	e.Peer = AddrPort(a.str(rPeerAddr), a.int(rPeerPort))
	e.Netns = a.int(rNetns)
	e.PID = a.int(rPID)
	e.ContainerID = a.str(rContainerID)
	e.CgroupPath = a.str(rCgroupPath)
	if e.CgroupPath != "" {
		cg := identity.ParseCgroup(e.CgroupPath)
		e.PodUID = cg.PodUID
		if e.ContainerID == "" {
			e.ContainerID = cg.ContainerID
		}
	}
	e.Exe = a.str(rExe)
	var d Detail
	d.Retransmits = a.int(rRetransmits)
	d.SrttUs = a.int(rSrttUs)
	d.DropReason = a.str(rDropReason)
	d.Interface = a.str(rInterface)
	switch n {
	case contract.EventSchedDelay:
		e.DurationNs = a.int(rSchedDelayNs)
	case contract.EventCgroupThrottle:
		e.DurationNs = a.int(rThrottledNs)
		d.ThrottledPeriods = a.int(rThrottledPeriods)
	case contract.EventCPUSteal:
		e.DurationNs = a.int(rStealNs)
	case contract.EventBlockIO:
		e.DurationNs = a.int(rBlockLatencyNs)
	case contract.EventSyscallSlow:
		e.DurationNs = a.int(rSyscallLatencyNs)
	case contract.EventTCPRetransmit:
		e.DurationNs = a.int(rRetransmitWaitNs)
	case contract.EventTCPEstablished:
		d.Side = a.str(rSide)
	case contract.EventTCPConnection:
		d.LifetimeNs = max(a.int(rDurationMs), 0) * 1e6
	}
	if e.DurationNs < 0 {
		e.DurationNs = 0
	}
	d.SyscallName = a.str(rSyscallName)
	d.SyscallPhase = a.str(rSyscallPhase)
	d.SeccompMode = a.int(rSeccompMode)
	d.BlockDevice = a.str(rBlockDevice)
	d.BlockOp = a.str(rBlockOp)
	d.BackingDevice = a.str(rBackingDevice)
	if n == contract.EventKernelLog {
		d.LogDevice = a.str(rLogDevice)
	}
	if r := a.v[rPerThread]; a.found&(1<<rPerThread) != 0 {
		d.Aggregate = (r.Type() == pcommon.ValueTypeBool && r.Bool()) || (r.Type() == pcommon.ValueTypeStr && r.Str() == "true")
	}
	// Summing records: throttling, steal, and a sandbox's syscall traps
	// (kernel.syscall.slow of phase "sandbox").
	if n == contract.EventCgroupThrottle || n == contract.EventCPUSteal || (n == contract.EventSyscallSlow && d.SyscallPhase == "sandbox") {
		if is, in := a.int(rIntervalStart), a.int(rIntervalNs); is > 0 && in > 0 {
			d.IntervalStart, d.IntervalNs = is, in
		}
	}
	if d != (Detail{}) {
		// A copy, so d itself stays on the stack for the common event
		// without details.
		detail := d
		e.Detail = &detail
	}
	return e, true
}
