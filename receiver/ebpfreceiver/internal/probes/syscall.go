package probes

import (
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
)

// attachSyscallSlow measures slow syscalls at sched_switch (bpf/syscall.c):
// no syscall tracepoint, so no syscall of the node pays the tracing slow
// path. Where this kernel cannot load or attach that program (no tp_btf,
// no bpf_task_pt_regs) it falls back, with one log line, to the per-syscall
// tracepoints (bpf/syscall_tp.c).
func attachSyscallSlow(env *attachEnv) (*Attachment, error) {
	if hist := env.host.sharedSyscallHist; hist != nil {
		// sched_delay's sched_switch program tracks the waits: one program
		// per context switch. It owns the object; this reads its histogram.
		return &Attachment{CollectHistograms: syscallHistograms(env, hist)}, nil
	}
	closers, hist, err := attachSyscallSched(env)
	if env.host.forceSyscallTracepoints && err == nil {
		for _, c := range closers {
			_ = c.Close()
		}
		err = errors.New("forced")
	}
	if err != nil {
		env.logger.Warn("slow syscalls cannot be seen from sched_switch: falling back to syscall tracepoints, which put every syscall of the node on the kernel's tracing slow path",
			zap.Error(err))
		closers, hist, err = attachSyscallTracepoints(env)
		if err != nil {
			return nil, err
		}
	}
	return &Attachment{closers: closers, CollectHistograms: syscallHistograms(env, hist)}, nil
}

// watchedBitmap is the syscall_slow.syscalls list as the bitmap of
// syscall numbers bpf/syscall.c tests.
func watchedBitmap(names []string) ([8]uint64, error) {
	var bits [8]uint64
	for _, name := range names {
		nr, ok := event.SyscallNumber(name)
		if !ok || nr < 0 || nr >= 512 {
			return bits, fmt.Errorf("syscall %q cannot be watched", name)
		}
		bits[nr/64] |= 1 << (nr % 64)
	}
	return bits, nil
}

// socketCalls take a socket's fd as their first argument: a wait in one
// of them names the socket (bpf/syscall_wait.h sock_calls), so the join
// can tie it to that connection's span.
var socketCalls = []string{"read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg"}

// trapWaitCalls can wait for another party (a peer, a lock holder, a
// timer, a child): a gVisor stub's long ptrace stop in one of them is the
// application's own blocking wait, which the Sentry serves, not the
// sandbox's cost (bpf/syscall_wait.h trap_waits). A long stop in any other
// syscall (a positional file read, a stat, an mmap) is still the trap's
// round trip: the Sentry was slow to serve it.
var trapWaitCalls = []int{
	unix.SYS_READ, unix.SYS_READV, unix.SYS_WRITE, unix.SYS_WRITEV, unix.SYS_RECVFROM, unix.SYS_RECVMSG, unix.SYS_RECVMMSG,
	unix.SYS_SENDTO, unix.SYS_SENDMSG, unix.SYS_SENDMMSG, unix.SYS_CONNECT, unix.SYS_ACCEPT, unix.SYS_ACCEPT4,
	unix.SYS_FUTEX, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2, unix.SYS_PPOLL, unix.SYS_PSELECT6,
	unix.SYS_NANOSLEEP, unix.SYS_CLOCK_NANOSLEEP, unix.SYS_WAIT4, unix.SYS_WAITID, unix.SYS_RT_SIGSUSPEND,
	unix.SYS_RT_SIGTIMEDWAIT, unix.SYS_FLOCK, unix.SYS_FCNTL, unix.SYS_MSGRCV, unix.SYS_MSGSND, unix.SYS_SEMTIMEDOP,
	unix.SYS_IO_GETEVENTS, unix.SYS_IO_URING_ENTER, unix.SYS_OPENAT, unix.SYS_IOCTL,
}

// trapWaitBitmap is trapWaitCalls (and this architecture's own waits) as
// a bitmap of syscall numbers.
func trapWaitBitmap() [8]uint64 {
	var bits [8]uint64
	for _, nr := range append(trapWaitCalls, archTrapWaitCalls...) {
		if nr >= 0 && nr < 512 {
			bits[nr/64] |= 1 << (nr % 64)
		}
	}
	return bits
}

// setSyscallWaitVars configures the wait tracking of bpf/syscall_wait.h in
// spec (syscall.c's object, or sched.c's when it tracks the waits).
func setSyscallWaitVars(spec *ebpf.CollectionSpec, opts *HostOptions) error {
	bits, err := watchedBitmap(opts.Syscalls)
	if err != nil {
		return err
	}
	sock, err := watchedBitmap(socketCalls)
	if err != nil {
		return err
	}
	return errors.Join(
		setVarValue(spec, "sock_calls", sock),
		setVar(spec, "min_latency_ns", uint64(opts.SyscallThreshold)),
		setVar(spec, "min_entry_latency_ns", uint64(opts.SyscallEntryThreshold)),
		setVarValue(spec, "connect_nr", uint32(unix.SYS_CONNECT)),
		setVarValue(spec, "watched", bits),
		setVarValue(spec, "trap_waits", trapWaitBitmap()),
	)
}

func attachSyscallSched(env *attachEnv) ([]io.Closer, *ebpf.Map, error) {
	opts := env.host
	var objs syscallObjects
	spec, err := loadSyscall()
	if err == nil {
		err = setSyscallWaitVars(spec, opts)
	}
	if err := env.load("syscall", spec, err, &objs); err != nil {
		return nil, nil, err
	}
	closers, err := attachAll(&objs, func() (link.Link, error) { return btfTracepoint(objs.HandleSyscallSwitch, "sched_switch") })
	if err != nil {
		return nil, nil, err
	}
	return closers, objs.SyscallHist, nil
}

// attachSyscallTracepoints is the fallback: sys_enter_X/sys_exit_X of the
// watched syscalls, plus sched_switch for seccomp entry waits.
func attachSyscallTracepoints(env *attachEnv) ([]io.Closer, *ebpf.Map, error) {
	opts := env.host
	var objs syscalltpObjects
	spec, err := loadSyscalltp()
	if err == nil {
		err = errors.Join(
			setVar(spec, "min_latency_ns", uint64(opts.SyscallThreshold)),
			setVar(spec, "min_entry_latency_ns", uint64(opts.SyscallEntryThreshold)),
		)
	}
	if err := env.load("syscalltp", spec, err, &objs); err != nil {
		return nil, nil, err
	}
	var closers []io.Closer
	var watched []string
	for _, name := range opts.Syscalls {
		enterProg := objs.HandleSystpEnter
		if name == "connect" {
			// Also reads the sockaddr: the peer of the connect.
			enterProg = objs.HandleSystpEnterConnect
		}
		enter, err := tracepoint("syscalls", "sys_enter_"+name, enterProg)
		if err != nil {
			env.logger.Warn("syscall not watched", zap.String("syscall", name), zap.Error(err))
			continue
		}
		exit, err := tracepoint("syscalls", "sys_exit_"+name, objs.HandleSystpExit)
		if err != nil {
			_ = enter.Close()
			env.logger.Warn("syscall not watched", zap.String("syscall", name), zap.Error(err))
			continue
		}
		closers = append(closers, enter, exit)
		watched = append(watched, name)
	}
	if len(watched) == 0 {
		for _, c := range closers {
			_ = c.Close()
		}
		_ = objs.Close()
		return nil, nil, fmt.Errorf("none of the syscalls %v could be watched", opts.Syscalls)
	}
	// The entry-wait half (seccomp user-notify / ptrace): optional.
	if l, err := btfTracepoint(objs.HandleSystpSchedSwitch, "sched_switch"); err != nil {
		env.logger.Warn("syscall entry waits not measured", zap.Error(err))
	} else {
		closers = append(closers, l)
	}
	return append(closers, &objs), objs.SyscallHist, nil
}

// syscallHistograms reads the per syscall, phase and cgroup histograms
// (the same key in both objects).
func syscallHistograms(env *attachEnv, hist *ebpf.Map) func(now pcommon.Timestamp, ms pmetric.MetricSlice) error {
	opts := env.host
	start := pcommon.NewTimestampFromTime(timeNow())
	return func(now pcommon.Timestamp, ms pmetric.MetricSlice) error {
		dps := histogram(ms, "kernel.syscall.latency", "Waits of the watched syscalls off CPU per syscall, phase (entry: before the syscall ran; body: inside it) and cgroup, built in the kernel.")
		var (
			key    syscallScKey
			perCPU []schedLog2Hist
			gone   []syscallScKey
		)
		iter := hist.Iterate()
		for iter.Next(&key, &perCPU) {
			if cgroupGone(opts.Procs, key.Cg.Id, key.Cg.Hier) {
				gone = append(gone, key)
				continue
			}
			h := sumHists(perCPU)
			dp := addLog2Point(dps, start, now, h.Slots, h.Count, h.SumNs)
			attrs := dp.Attributes()
			attrs.PutStr(contract.AttrSyscallName, event.SyscallName(int(key.Nr)))
			attrs.PutStr(contract.AttrSyscallPhase, event.PhaseName(key.Phase))
			putCgroup(attrs, opts.Procs, key.Cg.Id, key.Cg.Hier)
		}
		for _, k := range gone {
			_ = hist.Delete(k)
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("read syscall histograms: %w", err)
		}
		return nil
	}
}
