package event

// Host-side record layouts (bpf/sched.c, blockio.c, syscall.c, oom.c).
const (
	cgKeySize = 16 // struct cg_key {u64 id; u32 hier; u32 pad}

	SchedDelaySize   = HeaderSize + 8 + cgKeySize
	schedDelayNs     = HeaderSize
	schedDelayCgroup = HeaderSize + 8

	// struct cpu_throttled_event: the same layout as sched_delay_event.
	CPUThrottledSize   = HeaderSize + 8 + cgKeySize
	cpuThrottledNs     = HeaderSize
	cpuThrottledCgroup = HeaderSize + 8

	BlockIOSize    = HeaderSize + 40
	blockLatencyNs = HeaderSize
	blockQueueNs   = HeaderSize + 8
	blockSector    = HeaderSize + 16
	blockDev       = HeaderSize + 24
	blockBytes     = HeaderSize + 28
	blockOp        = HeaderSize + 32
	blockError     = HeaderSize + 36

	SyscallSize      = HeaderSize + 120
	syscallLatencyNs = HeaderSize
	syscallRet       = HeaderSize + 8
	syscallCgroup    = HeaderSize + 16
	syscallNr        = HeaderSize + 32
	syscallPhase     = HeaderSize + 36
	syscallSeccomp   = HeaderSize + 40
	syscallFlags     = HeaderSize + 44 // SC_HAS_RET = 1
	syscallPeerAddr  = HeaderSize + 48 // struct sc_peer {u8 addr[16]; u16 family; u16 port; u32 netns}
	syscallPeerFam   = HeaderSize + 64
	syscallPeerPort  = HeaderSize + 66
	syscallPeerNetns = HeaderSize + 68
	syscallOffCPUNs  = HeaderSize + 72
	syscallWindow    = HeaderSize + 80 // PHASE_SANDBOX: the window's first trap, boot ns
	syscallTraps     = HeaderSize + 88 // PHASE_SANDBOX: traps summed
	// SyscallWindowAt is checked against the C layout.
	SyscallWindowAt  = syscallWindow
	syscallLocalAddr = HeaderSize + 96 // struct sc_peer: a socket call's own end
	// SyscallLocalAt is checked against the C layout.
	SyscallLocalAt = syscallLocalAddr
	// SyscallFlagsAt and SyscallOffCPUAt are checked against the C layout.
	SyscallFlagsAt  = syscallFlags
	SyscallOffCPUAt = syscallOffCPUNs
	// syscallHasRet: ret is the syscall's return value (tracepoint fallback).
	syscallHasRet = 1

	OOMKillSize = HeaderSize + cgKeySize + 16
	oomMemcg    = HeaderSize
	oomTotalVM  = HeaderSize + cgKeySize
	oomUID      = HeaderSize + cgKeySize + 8
)

// Syscall phases (bpf/syscall.c PHASE_*).
const (
	PhaseBody  = 0
	PhaseEntry = 1
	// PhaseSandbox: a window of a ptrace-traced thread's syscall traps
	// (gVisor's ptrace platform), summed.
	PhaseSandbox = 2
)
