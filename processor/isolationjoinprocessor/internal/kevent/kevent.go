// Package kevent reads kernel-event log records (docs/design.md §3) into a compact
// struct the index keeps instead of the pdata record: the index holds up to
// max_events of them, so only the fields the join and the verdict use are
// kept.
package kevent

import (
	"net/netip"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

// Event is one kernel event as the join sees it.
type Event struct {
	Time  int64 // unix ns, the kernel time of the event
	Name  string
	Layer string // the receiver's classification; "" when absent or not a layer
	Host  string // resource host.name; "" when the record does not say

	Local, Peer netip.AddrPort // normalized; invalid when absent
	Netns       int64

	PID         int64
	ContainerID string
	CgroupPath  string
	PodUID      string
	Exe         string

	// DurationNs is the event's own duration: sched delay, throttled,
	// steal, block or syscall latency, and a retransmit's measured wait
	// (kernel.tcp.retransmit.wait_ns: how long the segment waited since its
	// previous transmission).
	DurationNs int64

	// Detail holds the facts only some event types carry; nil for most
	// events (a retransmit has none), which halves the index's memory.
	// Never written after FromRecord.
	Detail *Detail
}

// Detail are the per-type facts of an event.
type Detail struct {
	Retransmits      int64 // kernel.tcp.retransmits (connection events)
	SrttUs           int64
	ThrottledPeriods int64
	SeccompMode      int64
	DropReason       string
	Interface        string
	SyscallName      string
	SyscallPhase     string
	BlockDevice      string
	BlockOp          string
	// BackingDevice is the disk under a loop device (kernel.block.backing_device).
	BackingDevice string
	// IntervalStart and IntervalNs bound the period a summing record
	// (cgroup throttling) covers; the record is stamped at its end.
	IntervalStart int64
	IntervalNs    int64
	// Side is which end a kernel.tcp.established record's socket is
	// (connect, accept, existing).
	Side string
	// LifetimeNs is a closed connection's lifetime (kernel.tcp.duration_ms).
	LifetimeNs int64
	// LogDevice is the device, driver or node-level subsystem a kernel.log
	// line is about (kernel.log.device): without it (and without a
	// process) the line is nobody's evidence, not the node's.
	LogDevice string
	// Aggregate: a node- or cgroup-wide sum (cpu.stat throttling,
	// /proc/stat steal) of a loss its node also reports per thread
	// (contract.AttrPerThreadEvidence): evidence only for a span whose
	// process is unknown.
	Aggregate bool
}

// AttrBlockBackingDevice names the disk under a loop device.
const AttrBlockBackingDevice = "kernel.block.backing_device"

// Bytes estimates the memory e holds: the struct, its strings and its
// details (interned names and layers are counted too: an overestimate).
func (e *Event) Bytes() int64 {
	n := int64(unsafe.Sizeof(*e)) + int64(len(e.Name)+len(e.Layer)+len(e.Host)+len(e.ContainerID)+len(e.CgroupPath)+len(e.PodUID)+len(e.Exe))
	if d := e.Detail; d != nil {
		n += int64(unsafe.Sizeof(*d)) + int64(len(d.DropReason)+len(d.Interface)+len(d.SyscallName)+len(d.SyscallPhase)+len(d.BlockDevice)+len(d.BlockOp)+len(d.BackingDevice)+len(d.Side)+len(d.LogDevice))
	}
	return n
}

// D returns the event's details, zero when it has none.
func (e *Event) D() Detail {
	if e.Detail == nil {
		return Detail{}
	}
	return *e.Detail
}

// MatchKeys are the attribute keys a configured rule may test (Facts fills them).
var MatchKeys = []string{
	contract.AttrSyscallPhase, contract.AttrSyscallName, contract.AttrSKBDropReason,
	contract.AttrNetworkInterface, contract.AttrBlockDevice, contract.AttrBlockOp,
	contract.AttrProcessExecutable, contract.AttrSeccompMode, contract.AttrIsolationLayer,
}

// HasTuple reports whether the event names both ends of a socket.
func (e *Event) HasTuple() bool { return e.Local.IsValid() && e.Peer.IsValid() }

// HasProcess reports whether the event names who was affected.
func (e *Event) HasProcess() bool { return e.PID > 0 || e.ContainerID != "" || e.CgroupPath != "" }

func name(lr plog.LogRecord) string {
	if n := lr.EventName(); n != "" {
		return n
	}
	if v, ok := lr.Attributes().Get(contract.AttrEventName); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// Layers are the values isolation.layer may take.
var Layers = []string{contract.LayerL0, contract.LayerL1, contract.LayerL2, contract.LayerL3, contract.LayerL4, contract.LayerNetwork, contract.LayerApp}

// IsLayer reports whether s is one of Layers.
func IsLayer(s string) bool {
	_, ok := layer(s)
	return ok
}

// layer returns the constant equal to s, so the index keeps one shared
// string instead of each record's copy.
func layer(s string) (string, bool) {
	for _, l := range Layers {
		if s == l {
			return l, true
		}
	}
	return "", false
}

// names are the event names of the contract: an indexed event points at
// the constant instead of keeping its record's copy of the name (less
// memory, fewer objects for the garbage collector to mark).
var names = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		contract.EventTCPRetransmit, contract.EventTCPConnection, contract.EventTCPReset,
		contract.EventSKBDrop, contract.EventNetTxTimeout, contract.EventSchedDelay,
		contract.EventCgroupThrottle, contract.EventBlockIO, contract.EventSyscallSlow,
		contract.EventOOMKill, contract.EventCPUSteal, contract.EventKernelLog,
		contract.EventConntrackInsertFailed, contract.EventTCPEstablished,
	} {
		m[n] = n
	}
	return m
}()

func intern(n string) string {
	if c, ok := names[n]; ok {
		return c
	}
	return n
}
