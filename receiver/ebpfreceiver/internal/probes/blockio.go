package probes

import (
	"fmt"

	"github.com/cilium/ebpf/link"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/procinfo"
)

func attachBlockIO(env *attachEnv) (*Attachment, error) {
	opts := env.host
	var objs blockioObjects
	spec, err := loadBlockio()
	if err == nil {
		err = setVar(spec, "min_latency_ns", uint64(opts.BlockIOThreshold))
	}
	if err := env.load("blockio", spec, err, &objs); err != nil {
		return nil, err
	}
	closers, err := attachAll(&objs,
		func() (link.Link, error) { return btfTracepoint(objs.HandleBlockRqInsert, "block_rq_insert") },
		func() (link.Link, error) { return btfTracepoint(objs.HandleBlockRqIssue, "block_rq_issue") },
		func() (link.Link, error) { return btfTracepoint(objs.HandleBlockRqComplete, "block_rq_complete") },
		func() (link.Link, error) { return btfTracepoint(objs.HandleBlockRqError, "block_rq_error") },
	)
	if err != nil {
		return nil, err
	}
	start := pcommon.NewTimestampFromTime(timeNow())
	return &Attachment{
		closers: closers,
		CollectHistograms: func(now pcommon.Timestamp, ms pmetric.MetricSlice) error {
			dps := histogram(ms, "kernel.block.io.latency", "Block request latency (issue to completion) per device and op, built in the kernel.")
			var (
				key    blockioBlkKey
				perCPU []schedLog2Hist
			)
			iter := objs.BlockHist.Iterate()
			for iter.Next(&key, &perCPU) {
				hist := sumHists(perCPU)
				dp := addLog2Point(dps, start, now, hist.Slots, hist.Count, hist.SumNs)
				name := procinfo.BlockDevice(key.Dev>>20, key.Dev&0xfffff)
				dp.Attributes().PutStr(contract.AttrBlockDevice, name)
				if b, ok := procinfo.LoopBacking(name); ok { // cached: one sysfs walk per loop per 10s
					dp.Attributes().PutStr(contract.AttrBlockBackingDevice, b.Device)
				}
				dp.Attributes().PutStr(contract.AttrBlockOp, event.BlockOpName(key.Op))
			}
			if err := iter.Err(); err != nil {
				return fmt.Errorf("read block histograms: %w", err)
			}
			return nil
		},
	}, nil
}
