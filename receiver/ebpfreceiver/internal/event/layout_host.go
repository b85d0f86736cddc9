package event

import "unsafe"

// Host-side record layouts (bpf/records.h: sched.c, blockio.c, syscall.c,
// oom.c), taken from the generated types like layout.go's.
const (
	cgKeySize = int(unsafe.Sizeof(recordsCgKey{}))

	SchedDelaySize   = int(unsafe.Sizeof(recordsSchedDelayEvent{}))
	schedDelayNs     = int(unsafe.Offsetof(recordsSchedDelayEvent{}.DelayNs))
	schedDelayCgroup = int(unsafe.Offsetof(recordsSchedDelayEvent{}.Cg))

	CPUThrottledSize   = int(unsafe.Sizeof(recordsCpuThrottledEvent{}))
	cpuThrottledNs     = int(unsafe.Offsetof(recordsCpuThrottledEvent{}.ThrottledNs))
	cpuThrottledCgroup = int(unsafe.Offsetof(recordsCpuThrottledEvent{}.Cg))

	BlockIOSize    = int(unsafe.Sizeof(recordsBlockIoEvent{}))
	blockLatencyNs = int(unsafe.Offsetof(recordsBlockIoEvent{}.LatencyNs))
	blockQueueNs   = int(unsafe.Offsetof(recordsBlockIoEvent{}.QueueNs))
	blockSector    = int(unsafe.Offsetof(recordsBlockIoEvent{}.Sector))
	blockDev       = int(unsafe.Offsetof(recordsBlockIoEvent{}.Dev))
	blockBytes     = int(unsafe.Offsetof(recordsBlockIoEvent{}.Bytes))
	blockOp        = int(unsafe.Offsetof(recordsBlockIoEvent{}.Op))
	blockError     = int(unsafe.Offsetof(recordsBlockIoEvent{}.Error))

	SyscallSize      = int(unsafe.Sizeof(recordsSyscallEvent{}))
	syscallLatencyNs = int(unsafe.Offsetof(recordsSyscallEvent{}.LatencyNs))
	syscallRet       = int(unsafe.Offsetof(recordsSyscallEvent{}.Ret))
	syscallCgroup    = int(unsafe.Offsetof(recordsSyscallEvent{}.Cg))
	syscallNr        = int(unsafe.Offsetof(recordsSyscallEvent{}.Nr))
	syscallPhase     = int(unsafe.Offsetof(recordsSyscallEvent{}.Phase))
	syscallSeccomp   = int(unsafe.Offsetof(recordsSyscallEvent{}.SeccompMode))
	// SyscallFlagsAt is where struct syscall_event's flags are (SC_*).
	SyscallFlagsAt = int(unsafe.Offsetof(recordsSyscallEvent{}.Flags))
	syscallFlags   = SyscallFlagsAt
	// struct sc_peer: a connect's peer, or a socket call's peer end.
	syscallPeerAddr  = int(unsafe.Offsetof(recordsSyscallEvent{}.Peer))
	syscallPeerFam   = syscallPeerAddr + int(unsafe.Offsetof(recordsScPeer{}.Family))
	syscallPeerPort  = syscallPeerAddr + int(unsafe.Offsetof(recordsScPeer{}.Port))
	syscallPeerNetns = syscallPeerAddr + int(unsafe.Offsetof(recordsScPeer{}.Netns))
	syscallOffCPUNs  = int(unsafe.Offsetof(recordsSyscallEvent{}.OffCpuNs))
	syscallWindow    = int(unsafe.Offsetof(recordsSyscallEvent{}.WindowStart)) // PHASE_SANDBOX: the window's first trap, boot ns
	syscallTraps     = int(unsafe.Offsetof(recordsSyscallEvent{}.Traps))       // PHASE_SANDBOX: traps summed
	syscallLocalAddr = int(unsafe.Offsetof(recordsSyscallEvent{}.Local))       // struct sc_peer: a socket call's own end
	// struct sc_peer's fields, relative to its start.
	scPeerFamily = int(unsafe.Offsetof(recordsScPeer{}.Family))
	scPeerPort   = int(unsafe.Offsetof(recordsScPeer{}.Port))
	// syscallHasRet: ret is the syscall's return value (tracepoint fallback).
	syscallHasRet = 1

	OOMKillSize = int(unsafe.Sizeof(recordsOomKillEvent{}))
	oomMemcg    = int(unsafe.Offsetof(recordsOomKillEvent{}.Memcg))
	oomTotalVM  = int(unsafe.Offsetof(recordsOomKillEvent{}.TotalVmPages))
	oomUID      = int(unsafe.Offsetof(recordsOomKillEvent{}.Uid))
	oomExe      = int(unsafe.Offsetof(recordsOomKillEvent{}.Exe))
	oomExeLen   = len(recordsOomKillEvent{}.Exe)
)

// Syscall phases (bpf/syscall.h PHASE_*).
const (
	PhaseBody  = 0
	PhaseEntry = 1
	// PhaseSandbox: a window of a ptrace-traced thread's syscall traps
	// (gVisor's ptrace platform), summed.
	PhaseSandbox = 2
)
