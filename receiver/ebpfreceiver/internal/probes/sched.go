package probes

import (
	"fmt"

	"github.com/cilium/ebpf/link"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func attachSchedDelay(env *attachEnv) (*Attachment, error) {
	opts := env.host
	var objs schedObjects
	spec, err := loadSched()
	if err == nil {
		err = setVar(spec, "min_delay_ns", uint64(opts.SchedDelayThreshold))
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
	start := pcommon.NewTimestampFromTime(timeNow())
	return &Attachment{
		closers: closers,
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
