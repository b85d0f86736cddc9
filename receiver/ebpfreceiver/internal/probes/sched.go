package probes

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

func attachSchedDelay(env *attachEnv) (*Attachment, error) {
	opts := env.host
	var objs schedObjects
	spec, err := loadSched()
	// With syscall_slow enabled too, this program tracks its waits.
	trackSyscalls := len(env.options.Enabled) == 0 || slices.Contains(env.options.Enabled, "syscall_slow")
	if err == nil {
		err = errors.Join(
			setVar(spec, "min_delay_ns", uint64(opts.SchedDelayThreshold)),
			setVar(spec, "min_throttle_ns", uint64(DefaultThreadThrottleThreshold)),
		)
	}
	if err == nil && trackSyscalls {
		err = errors.Join(setSyscallWaitVars(spec, opts), setVarValue(spec, "track_syscalls", uint32(1)))
	}
	if err := env.load("sched", spec, err, &objs); err != nil {
		return nil, err
	}
	closers, err := attachAll(&objs,
		func() (link.Link, error) { return btfTracepoint(objs.HandleSchedWakeup, "sched_wakeup") },
		func() (link.Link, error) { return btfTracepoint(objs.HandleSchedWakeupNew, "sched_wakeup_new") },
		func() (link.Link, error) { return btfTracepoint(objs.HandleSchedSwitch, "sched_switch") },
	)
	if err != nil {
		return nil, err
	}
	// The same program measures throttling and steal per thread; the
	// node- and cgroup-wide records say so, as far as this kernel lets it.
	opts.perThreadThrottle, opts.perThreadSteal = perThreadSupport(env.logger)
	if trackSyscalls {
		opts.sharedSyscallHist = objs.SyscallHist
	}
	steal := newProcessSteal(objs.StealByTgid, opts)
	start := pcommon.NewTimestampFromTime(timeNow())
	return &Attachment{
		closers: closers,
		PollEvents: func(now time.Time, logs plog.LogRecordSlice) error {
			if !opts.perThreadSteal {
				return nil
			}
			return steal.poll(now, logs)
		},
		CollectHistograms: func(now pcommon.Timestamp, ms pmetric.MetricSlice) error {
			dps := histogram(ms, "kernel.sched.delay", "Run-queue delay: time a runnable task waited for a CPU, per cgroup, built in the kernel.")
			var (
				key    schedCgKey
				perCPU []schedLog2Hist
			)
			var gone []schedCgKey
			iter := objs.SchedHist.Iterate()
			for iter.Next(&key, &perCPU) {
				if cgroupGone(opts.Procs, key.Id, key.Hier) {
					gone = append(gone, key)
					continue
				}
				hist := sumHists(perCPU)
				dp := addLog2Point(dps, start, now, hist.Slots, hist.Count, hist.SumNs)
				putCgroup(dp.Attributes(), opts.Procs, key.Id, key.Hier)
			}
			for _, k := range gone {
				_ = objs.SchedHist.Delete(k)
			}
			if err := iter.Err(); err != nil {
				return fmt.Errorf("read sched histograms: %w", err)
			}
			return nil
		},
	}, nil
}

// DefaultThreadThrottleThreshold: a thread's throttled wait at least this
// long becomes a kernel.cgroup.throttle record of the thread.
const DefaultThreadThrottleThreshold = time.Millisecond

// perThreadSupport says whether this kernel lets bpf/sched.c see a
// throttled task (task_struct.throttled, or cfs_rq.throttle_count) and the
// run queue's steal clock (rq.prev_steal_time_rq, paravirt time
// accounting).
func perThreadSupport(logger *zap.Logger) (throttle, steal bool) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		logger.Info("kernel BTF unavailable: throttling and steal are node- and cgroup-wide only", zap.Error(err))
		return false, false
	}
	throttle = hasMember(spec, "task_struct", "throttled") || hasMember(spec, "cfs_rq", "throttle_count")
	steal = hasMember(spec, "rq", "prev_steal_time_rq")
	if !throttle {
		logger.Info("this kernel has no CFS bandwidth control: no per-thread throttling")
	}
	if !steal {
		logger.Info("this kernel has no paravirt steal clock on the run queue: steal is node-wide only (/proc/stat)")
	}
	return throttle, steal
}

func hasMember(spec *btf.Spec, typ, member string) bool {
	var s *btf.Struct
	if err := spec.TypeByName(typ, &s); err != nil {
		return false
	}
	for _, m := range s.Members {
		if m.Name == member {
			return true
		}
	}
	return false
}
