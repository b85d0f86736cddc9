package probes

import (
	"fmt"

	"github.com/cilium/ebpf/link"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

func attachNetTxTimeout(env *attachEnv) (*Attachment, error) {
	var objs txtimeoutObjects
	spec, err := loadTxtimeout()
	if err := env.load("txtimeout", spec, err, &objs); err != nil {
		return nil, err
	}
	closers, err := attachAll(&objs, func() (link.Link, error) {
		return tracepoint("net", "net_dev_xmit_timeout", objs.HandleNetDevXmitTimeout)
	})
	if err != nil {
		return nil, err
	}
	return &Attachment{
		closers: closers,
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			var (
				key   txtimeoutTxTimeoutKey
				count uint64
			)
			iter := objs.TxTimeouts.Iterate()
			for iter.Next(&key, &count) {
				mb.RecordKernelNetTxTimeoutsDataPoint(now, int64(count), cstr(key.Device[:]))
			}
			if err := iter.Err(); err != nil {
				return fmt.Errorf("read tx timeout counters: %w", err)
			}
			return nil
		},
	}, nil
}
