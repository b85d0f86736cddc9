package probes

import (
	"errors"
	"fmt"
	"io"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
)

func attachSyscallSlow(env *attachEnv) (*Attachment, error) {
	opts := env.host
	var objs syscallObjects
	spec, err := loadSyscall()
	if err == nil {
		err = errors.Join(
			setVar(spec, "min_latency_ns", uint64(opts.SyscallThreshold)),
			setVar(spec, "min_entry_latency_ns", uint64(opts.SyscallEntryThreshold)),
		)
	}
	if err := env.load("syscall", spec, err, &objs); err != nil {
		return nil, err
	}
	var closers []io.Closer
	release := func() {
		for _, c := range closers {
			_ = c.Close()
		}
		_ = objs.Close()
	}
	// One program pair serves every watched syscall; a syscall whose
	// tracepoints this kernel lacks is skipped with a log line.
	var watched []string
	for _, name := range opts.Syscalls {
		enterProg := objs.HandleSysEnter
		if name == "connect" {
			// Also reads the sockaddr: the peer of the connect.
			enterProg = objs.HandleSysEnterConnect
		}
		enter, err := tracepoint("syscalls", "sys_enter_"+name, enterProg)
		if err != nil {
			env.logger.Warn("syscall not watched", zap.String("syscall", name), zap.Error(err))
			continue
		}
		exit, err := tracepoint("syscalls", "sys_exit_"+name, objs.HandleSysExit)
		if err != nil {
			_ = enter.Close()
			env.logger.Warn("syscall not watched", zap.String("syscall", name), zap.Error(err))
			continue
		}
		closers = append(closers, enter, exit)
		watched = append(watched, name)
	}
	if len(watched) == 0 {
		release()
		return nil, fmt.Errorf("none of the syscalls %v could be watched", opts.Syscalls)
	}
	// The entry-wait half (seccomp user-notify / ptrace): optional, the
	// body half works without it.
	if l, err := btfTracepoint(objs.HandleSyscallSchedSwitch, "sched_switch"); err != nil {
		env.logger.Warn("syscall entry waits not measured", zap.Error(err))
	} else {
		closers = append(closers, l)
	}
	closers = append(closers, &objs)
	start := pcommon.NewTimestampFromTime(timeNow())
	return &Attachment{
		closers: closers,
		CollectHistograms: func(now pcommon.Timestamp, ms pmetric.MetricSlice) error {
			dps := histogram(ms, "kernel.syscall.latency", "Latency of the watched syscalls per syscall, phase (entry: wait before the syscall ran; body: the syscall) and cgroup, built in the kernel.")
			var (
				key    syscallScKey
				perCPU []schedLog2Hist
			)
			var gone []syscallScKey
			iter := objs.SyscallHist.Iterate()
			for iter.Next(&key, &perCPU) {
				if cgroupGone(opts.Procs, key.Cg.Id, key.Cg.Hier) {
					gone = append(gone, key)
					continue
				}
				hist := sumHists(perCPU)
				dp := addLog2Point(dps, start, now, hist.Slots, hist.Count, hist.SumNs)
				attrs := dp.Attributes()
				attrs.PutStr(contract.AttrSyscallName, event.SyscallName(int(key.Nr)))
				attrs.PutStr(contract.AttrSyscallPhase, event.PhaseName(key.Phase))
				putCgroup(attrs, opts.Procs, key.Cg.Id, key.Cg.Hier)
			}
			for _, k := range gone {
				_ = objs.SyscallHist.Delete(k)
			}
			if err := iter.Err(); err != nil {
				return fmt.Errorf("read syscall histograms: %w", err)
			}
			return nil
		},
	}, nil
}
