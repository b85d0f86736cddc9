package event

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/identity"
	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/procinfo"
)

// CgroupRef is a struct cg_key: a cgroup id and which hierarchy it is in
// (0 = cgroup v2, n = v1 controller n-1).
type CgroupRef struct {
	ID   uint64
	Hier uint32
}

func decodeCgroupRef(b []byte) CgroupRef {
	return CgroupRef{ID: binary.LittleEndian.Uint64(b), Hier: binary.LittleEndian.Uint32(b[8:])}
}

// identify adds container.id and linux.cgroup.path: from /proc/<pid>/cgroup
// while the process lives, else from the cgroup id the kernel recorded.
// It returns the cgroup path ("" when unknown).
func (d *Decoder) identify(attrs pcommon.Map, pid uint32, cg CgroupRef) string {
	if d.Procs == nil {
		return ""
	}
	var info procinfo.Info
	if pid != 0 {
		info = d.Procs.Lookup(pid)
	}
	if info.CgroupPath == "" && cg.ID > 1 {
		info.CgroupPath = d.Procs.CgroupPath(cg.ID, cg.Hier)
		info.ContainerID = identity.ContainerID(info.CgroupPath)
	}
	if info.CgroupPath != "" {
		attrs.PutStr(contract.AttrCgroupPath, info.CgroupPath)
	}
	if info.ContainerID != "" {
		attrs.PutStr(contract.AttrContainerID, info.ContainerID)
	}
	return info.CgroupPath
}

func (d *Decoder) decodeSchedDelay(raw []byte, h Header, dst plog.LogRecordSlice) error {
	if len(raw) < SchedDelaySize {
		return &ErrShort{Type: h.Type, Got: len(raw), Want: SchedDelaySize}
	}
	delay := binary.LittleEndian.Uint64(raw[schedDelayNs:])
	lr := d.newRecord(dst, h, contract.EventSchedDelay, plog.SeverityNumberWarn)
	attrs := lr.Attributes()
	attrs.PutInt(contract.AttrSchedDelayNs, int64(delay))
	path := d.identify(attrs, h.PID, decodeCgroupRef(raw[schedDelayCgroup:]))
	// Run-queue delay of a task in a container cgroup with a CPU limit is
	// the container's quota (the layers table); the limit is read from
	// /proc only for a task in a container.
	f := layers.Facts{Event: contract.EventSchedDelay, CgroupPath: path}
	if layers.ContainerCgroup(path) && d.Procs != nil && h.PID != 0 {
		f.CPULimit = d.Procs.CPULimit(h.PID)
	}
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&f))
	lr.Body().SetStr("run-queue delay " + durationString(delay) + " for " + h.Comm)
	return nil
}

// decodeCPUThrottled: one thread's wait while CFS bandwidth control held
// its group (bpf/sched.c), a kernel.cgroup.throttle record of that thread:
// stamped when it ran again, kernel.cgroup.cpu.throttled_ns long. Always L3: the
// container's CPU quota stopped the thread.
func (d *Decoder) decodeCPUThrottled(raw []byte, h Header, dst plog.LogRecordSlice) error {
	if len(raw) < CPUThrottledSize {
		return &ErrShort{Type: h.Type, Got: len(raw), Want: CPUThrottledSize}
	}
	ns := binary.LittleEndian.Uint64(raw[cpuThrottledNs:])
	lr := d.newRecord(dst, h, contract.EventCgroupThrottle, plog.SeverityNumberWarn)
	attrs := lr.Attributes()
	attrs.PutInt(contract.AttrCgroupThrottledNs, int64(ns))
	path := d.identify(attrs, h.PID, decodeCgroupRef(raw[cpuThrottledCgroup:]))
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventCgroupThrottle}))
	lr.Body().SetStr("thread " + h.Comm + " cpu throttled " + durationString(ns) + " in cgroup " + path)
	return nil
}

// BlockOpName names a REQ_OP_* value (include/linux/blk_types.h).
func BlockOpName(op uint32) string {
	switch op {
	case 0:
		return "read"
	case 1:
		return "write"
	case 2:
		return "flush"
	case 3:
		return "discard"
	case 5:
		return "secure_erase"
	case 7:
		return "zone_append"
	case 9:
		return "write_zeroes"
	case 34:
		return "drv_in"
	case 35:
		return "drv_out"
	}
	return "op_" + strconv.Itoa(int(op))
}

func (d *Decoder) decodeBlockIO(raw []byte, h Header, dst plog.LogRecordSlice) error {
	if len(raw) < BlockIOSize {
		return &ErrShort{Type: h.Type, Got: len(raw), Want: BlockIOSize}
	}
	le := binary.LittleEndian
	lat, queue := le.Uint64(raw[blockLatencyNs:]), le.Uint64(raw[blockQueueNs:])
	dev := le.Uint32(raw[blockDev:])
	errno := int32(le.Uint32(raw[blockError:]))
	op := BlockOpName(le.Uint32(raw[blockOp:]))
	name := procinfo.BlockDevice(dev>>20, dev&0xfffff)
	if h.Comm == "" && h.PID != 0 && d.Procs != nil {
		// The block programs record the submitter's pid, not its command.
		h.Comm = d.Procs.Comm(h.PID)
	}
	sev := plog.SeverityNumberWarn
	if errno != 0 {
		sev = plog.SeverityNumberError
	}
	lr := d.newRecord(dst, h, contract.EventBlockIO, sev)
	attrs := lr.Attributes()
	attrs.PutStr(contract.AttrBlockDevice, name)
	attrs.PutStr(contract.AttrBlockOp, op)
	attrs.PutInt(contract.AttrBlockLatencyNs, int64(lat))
	attrs.PutInt(contract.AttrBlockQueueNs, int64(queue))
	attrs.PutInt(contract.AttrBlockBytes, int64(le.Uint32(raw[blockBytes:])))
	attrs.PutInt(contract.AttrBlockSector, int64(le.Uint64(raw[blockSector:])))
	d.identify(attrs, h.PID, CgroupRef{ID: h.CgroupID})
	f := layers.Facts{Event: contract.EventBlockIO, BlockDevice: name, BlockLatencyNs: int64(lat), BlockQueueNs: int64(queue), BlockError: int64(errno)}
	if errno != 0 {
		attrs.PutInt(contract.AttrBlockError, int64(errno))
		attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&f))
		lr.Body().SetStr("block " + op + " error " + strconv.Itoa(int(errno)) + " on " + name)
		return nil
	}
	body := "block " + op + " on " + name
	if b, ok := procinfo.LoopBacking(name); ok {
		attrs.PutStr(contract.AttrBlockBackingDevice, b.Device)
		if b.Driver != "" {
			attrs.PutStr(contract.AttrBlockBackingDriver, b.Driver)
		}
		f.BlockBackingDevice, f.BlockBackingDriver = b.Device, b.Driver
		body += " (on " + b.Device + ")"
	}
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&f))
	lr.Body().SetStr(body + " took " + durationString(lat))
	return nil
}

// PhaseName names a syscall phase.
func PhaseName(p uint32) string {
	switch p {
	case PhaseEntry:
		return "entry"
	case PhaseSandbox:
		return "sandbox"
	}
	return "body"
}

func (d *Decoder) decodeSyscallSlow(raw []byte, h Header, dst plog.LogRecordSlice) error {
	if len(raw) < SyscallSize {
		return &ErrShort{Type: h.Type, Got: len(raw), Want: SyscallSize}
	}
	le := binary.LittleEndian
	lat := le.Uint64(raw[syscallLatencyNs:])
	nr := int(le.Uint32(raw[syscallNr:]))
	phase := le.Uint32(raw[syscallPhase:])
	mode := int(le.Uint32(raw[syscallSeccomp:]))
	if d.Procs != nil && h.PID != 0 {
		// The contract reads the mode from /proc/<pid>/status; the
		// value the kernel saw is the fallback for a process already gone.
		if m := d.Procs.SeccompMode(h.PID); m >= 0 {
			mode = m
		}
	}
	name := SyscallName(nr)
	lr := d.newRecord(dst, h, contract.EventSyscallSlow, plog.SeverityNumberWarn)
	attrs := lr.Attributes()
	attrs.PutStr(contract.AttrSyscallName, name)
	attrs.PutStr(contract.AttrSyscallPhase, PhaseName(phase))
	attrs.PutInt(contract.AttrSyscallLatencyNs, int64(lat))
	attrs.PutInt(contract.AttrSeccompMode, int64(mode))
	attrs.PutInt(contract.AttrSyscallOffCPUNs, int64(le.Uint64(raw[syscallOffCPUNs:])))
	if phase == PhaseSandbox {
		// A window of traps summed: the join prorates it over the window.
		start := le.Uint64(raw[syscallWindow:])
		if start > 0 && start <= h.BootNs {
			attrs.PutInt(contract.AttrIntervalStart, d.Clock.Wall(start).UnixNano())
			attrs.PutInt(contract.AttrIntervalNs, int64(h.BootNs-start))
		}
		attrs.PutInt(contract.AttrSyscallSandboxTraps, clampInt(le.Uint64(raw[syscallTraps:])))
	}
	if le.Uint32(raw[syscallFlags:])&syscallHasRet != 0 {
		// Only the syscall-tracepoint fallback sees the return value.
		attrs.PutInt(contract.AttrSyscallReturn, int64(le.Uint64(raw[syscallRet:])))
	}
	if peer, ok := syscallEnd(raw, syscallPeerAddr); ok {
		// connect: the peer it was connecting to; a socket read/write:
		// the socket's two ends and namespace. The join ties the wait to
		// the client span of that connection, not to every span of the
		// process (a process serves concurrent requests).
		attrs.PutStr(contract.AttrNetworkTransport, "tcp")
		if peer.Addr().Is4() {
			attrs.PutStr(contract.AttrNetworkType, "ipv4")
		} else {
			attrs.PutStr(contract.AttrNetworkType, "ipv6")
		}
		attrs.PutStr(contract.AttrNetworkPeerAddress, peer.Addr().String())
		attrs.PutInt(contract.AttrNetworkPeerPort, int64(peer.Port()))
		if local, ok := syscallEnd(raw, syscallLocalAddr); ok {
			attrs.PutStr(contract.AttrNetworkLocalAddress, local.Addr().String())
			attrs.PutInt(contract.AttrNetworkLocalPort, int64(local.Port()))
		}
		if ns := le.Uint32(raw[syscallPeerNetns:]); ns != 0 {
			attrs.PutInt(contract.AttrNetnsInode, int64(ns))
		}
	}
	d.identify(attrs, h.PID, decodeCgroupRef(raw[syscallCgroup:]))
	ioLimit := ""
	if phase == PhaseBody && d.Procs != nil && h.PID != 0 && layers.LimitedIO(name) {
		if ioLimit = d.Procs.IOLimit(h.PID); ioLimit != "" {
			attrs.PutStr(contract.AttrCgroupIOLimit, ioLimit)
		}
	}
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventSyscallSlow,
		SyscallName: name, SyscallPhase: PhaseName(phase), Exe: h.Comm, IOLimit: ioLimit}))
	if phase == PhaseSandbox {
		lr.Body().SetStr("sandbox syscall traps took " + durationString(lat) + " (last " + name + ")")
	} else {
		lr.Body().SetStr(name + " " + PhaseName(phase) + " took " + durationString(lat))
	}
	return nil
}

// syscallEnd is the struct sc_peer at off: a connect's sockaddr or one
// end of a socket call's socket (IPv4-mapped IPv6 addresses unmapped);
// false when the record has none.
func syscallEnd(raw []byte, off int) (netip.AddrPort, bool) {
	le := binary.LittleEndian
	port := le.Uint16(raw[off+scPeerPort:])
	var addr netip.Addr
	switch le.Uint16(raw[off+scPeerFamily:]) {
	case afInet:
		addr = netip.AddrFrom4([4]byte(raw[off : off+4]))
	case afInet6:
		addr = netip.AddrFrom16([16]byte(raw[off : off+16])).Unmap()
	default:
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr, port), true
}

func (d *Decoder) decodeOOMKill(raw []byte, h Header, dst plog.LogRecordSlice) error {
	if len(raw) < OOMKillSize {
		return &ErrShort{Type: h.Type, Got: len(raw), Want: OOMKillSize}
	}
	le := binary.LittleEndian
	memcg := decodeCgroupRef(raw[oomMemcg:])
	lr := d.newRecord(dst, h, contract.EventOOMKill, plog.SeverityNumberError)
	attrs := lr.Attributes()
	// The victim is dying: name its memcg from the id first.
	path := ""
	if d.Procs != nil && memcg.ID > 1 {
		path = d.Procs.CgroupPath(memcg.ID, memcg.Hier)
	}
	if path != "" {
		attrs.PutStr(contract.AttrMemcgPath, path)
		attrs.PutStr(contract.AttrCgroupPath, path)
		if id := identity.ContainerID(path); id != "" {
			attrs.PutStr(contract.AttrContainerID, id)
		}
	} else {
		path = d.identify(attrs, h.PID, memcg)
		if path != "" {
			attrs.PutStr(contract.AttrMemcgPath, path)
		}
	}
	// Read in the kernel at the kill: /proc/<pid>/exe is gone by now. The
	// receiver replaces it with the untruncated name when the process
	// still is there.
	if exe := cString(raw[oomExe : oomExe+oomExeLen]); exe != "" {
		attrs.PutStr(contract.AttrProcessExecutable, exe)
	}
	attrs.PutInt(contract.AttrProcessTotalVMPages, int64(le.Uint64(raw[oomTotalVM:])))
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventOOMKill}))
	lr.Body().SetStr("OOM kill of " + h.Comm + " (pid " + strconv.Itoa(int(h.PID)) + ") in memcg " + path)
	return nil
}

func durationString(ns uint64) string {
	return strconv.FormatFloat(float64(ns)/1e6, 'f', 3, 64) + "ms"
}

func itoa(n int) string { return strconv.Itoa(n) }
