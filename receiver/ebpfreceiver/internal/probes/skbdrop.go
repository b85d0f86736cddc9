package probes

import (
	"fmt"
	"io"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// DefaultDropEventsPerSecond bounds kernel.skb.drop events per CPU; the
// kernel.skb.drops counter still counts every drop.
const DefaultDropEventsPerSecond = 1000

func attachSKBDrop(env *attachEnv) (*Attachment, error) {
	var objs skbdropObjects
	spec, err := loadSkbdrop()
	if err == nil {
		rate := env.options.DropEventsPerSecond
		if rate == 0 {
			rate = DefaultDropEventsPerSecond
		}
		if v, ok := spec.Variables["max_events_per_sec"]; ok {
			if err := v.Set(rate); err != nil {
				return nil, fmt.Errorf("set drop event rate: %w", err)
			}
		}
	}
	if err := env.load("skbdrop", spec, err, &objs); err != nil {
		return nil, err
	}
	for _, name := range env.options.DropIgnoreReasons {
		v, ok := env.names.DropReasonValue(name)
		if !ok {
			// Reasons come and go between kernel versions.
			env.logger.Warn("skb drop reason to ignore not known to this kernel", zap.String("reason", name))
			continue
		}
		if err := objs.DropIgnore.Put(v, uint8(1)); err != nil {
			_ = objs.Close()
			return nil, fmt.Errorf("ignore drop reason %s: %w", name, err)
		}
	}
	l, err := tracepoint("skb", "kfree_skb", objs.HandleKfreeSkb)
	if err != nil {
		_ = objs.Close()
		return nil, err
	}
	names := env.names
	return &Attachment{
		closers: []io.Closer{l, &objs},
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			var (
				key   skbdropDropKey
				count uint64
			)
			iter := objs.Drops.Iterate()
			for iter.Next(&key, &count) {
				reason := names.DropReason(key.Reason)
				if reason == "" {
					reason = fmt.Sprintf("REASON_%d", key.Reason)
				}
				mb.RecordKernelSkbDropsDataPoint(now, int64(count), reason, cstr(key.Ifname[:]))
			}
			if err := iter.Err(); err != nil {
				return fmt.Errorf("read drop counters: %w", err)
			}
			return nil
		},
	}, nil
}

func cstr[T ~int8 | ~uint8](b []T) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
