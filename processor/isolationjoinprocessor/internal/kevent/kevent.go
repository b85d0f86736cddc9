// Package kevent reads kernel-event log records (docs/design.md §3) into a compact
// struct the index keeps instead of the pdata record: the index holds up to
// max_events of them, so only the fields the join and the verdict use are
// kept.
package kevent

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/identity"
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
	// (tcp.retransmit.wait_ns: how long the segment waited since its
	// previous transmission).
	DurationNs int64

	// Detail holds the facts only some event types carry; nil for most
	// events (a retransmit has none), which halves the index's memory.
	// Never written after FromRecord.
	Detail *Detail
}

// Detail are the per-type facts of an event.
type Detail struct {
	Retransmits      int64 // tcp.retransmits (connection events)
	SrttUs           int64
	ThrottledPeriods int64
	SeccompMode      int64
	DropReason       string
	Interface        string
	SyscallName      string
	SyscallPhase     string
	BlockDevice      string
	BlockOp          string
	// BackingDevice is the disk under a loop device (block.backing_device).
	BackingDevice string
	// IntervalStart and IntervalNs bound the period a summing record
	// (cgroup throttling) covers; the record is stamped at its end.
	IntervalStart int64
	IntervalNs    int64
	// Side is which end a kernel.tcp.established record's socket is
	// (connect, accept, existing).
	Side string
	// LifetimeNs is a closed connection's lifetime (tcp.duration_ms).
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
const AttrBlockBackingDevice = "block.backing_device"

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

// MatchKeys are the attribute keys a configured rule may test (Attr answers them).
var MatchKeys = []string{
	contract.AttrSyscallPhase, contract.AttrSyscallName, contract.AttrSKBDropReason,
	contract.AttrNetworkInterface, contract.AttrBlockDevice, contract.AttrBlockOp,
	contract.AttrProcessExecutable, contract.AttrSeccompMode, contract.AttrIsolationLayer,
}

// Attr returns the value of one of MatchKeys as a string.
func (e *Event) Attr(key string) string {
	d := e.D()
	switch key {
	case contract.AttrSyscallPhase:
		return d.SyscallPhase
	case contract.AttrSyscallName:
		return d.SyscallName
	case contract.AttrSKBDropReason:
		return d.DropReason
	case contract.AttrNetworkInterface:
		return d.Interface
	case contract.AttrBlockDevice:
		return d.BlockDevice
	case contract.AttrBlockOp:
		return d.BlockOp
	case contract.AttrProcessExecutable:
		return e.Exe
	case contract.AttrSeccompMode:
		if d.SeccompMode == 0 {
			return ""
		}
		return strconv.FormatInt(d.SeccompMode, 10)
	case contract.AttrIsolationLayer:
		return e.Layer
	}
	return ""
}

// HasTuple reports whether the event names both ends of a socket.
func (e *Event) HasTuple() bool { return e.Local.IsValid() && e.Peer.IsValid() }

// HasProcess reports whether the event names who was affected.
func (e *Event) HasProcess() bool { return e.PID > 0 || e.ContainerID != "" || e.CgroupPath != "" }

// IsKernelEvent reports whether a log record follows the contract.
func IsKernelEvent(lr plog.LogRecord) bool {
	return strings.HasPrefix(name(lr), "kernel.")
}

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

// Str reads a string attribute; other scalar types are formatted, maps,
// slices and bytes read as "" (they are never a key).
func Str(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok {
		return ""
	}
	return StrValue(v)
}

// StrValue is Str of a value already found.
func StrValue(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		return v.AsString()
	}
	return ""
}

// Int reads an integer attribute written as an int, a whole double or a
// decimal string (SDKs disagree); anything else reads as 0.
func Int(m pcommon.Map, key string) int64 {
	v, ok := m.Get(key)
	if !ok {
		return 0
	}
	return IntValue(v)
}

// IntValue is Int of a value already found.
func IntValue(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if f != f || f > math.MaxInt64 || f < math.MinInt64 {
			return 0
		}
		return int64(f)
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(strings.TrimSpace(v.Str()), 10, 64)
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}

// Addr parses and normalizes an address: IPv4-mapped IPv6 becomes IPv4 and
// the zone is dropped, so the same socket compares equal however a side
// spelled it. A hostname (or garbage) is invalid.
func Addr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// AddrPort combines a normalized address with a port; invalid unless both
// are usable.
func AddrPort(addr string, port int64) netip.AddrPort {
	a := Addr(addr)
	if !a.IsValid() || port <= 0 || port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(port))
}
