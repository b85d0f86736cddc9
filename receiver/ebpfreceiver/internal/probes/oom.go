package probes

import (
	"fmt"

	"github.com/cilium/ebpf/link"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crosshair-otel/crosshair/internal/identity"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

func attachOOMKill(env *attachEnv) (*Attachment, error) {
	opts := env.host
	var objs oomObjects
	spec, err := loadOom()
	if err := env.load("oom", spec, err, &objs); err != nil {
		return nil, err
	}
	closers, err := attachAll(&objs,
		func() (link.Link, error) { return btfTracepoint(objs.HandleMarkVictim, "mark_victim") },
	)
	if err != nil {
		return nil, err
	}
	return &Attachment{
		closers: closers,
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			var (
				key   oomCgKey
				count uint64
			)
			iter := objs.OomKills.Iterate()
			for iter.Next(&key, &count) {
				path := opts.Procs.CgroupPath(key.Id, key.Hier)
				mb.RecordKernelOomKillsDataPoint(now, int64(count), path, identity.ContainerID(path))
			}
			if err := iter.Err(); err != nil {
				return fmt.Errorf("read OOM kill counters: %w", err)
			}
			return nil
		},
	}, nil
}
