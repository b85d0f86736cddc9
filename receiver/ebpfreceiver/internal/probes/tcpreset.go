package probes

import (
	"errors"
	"fmt"
	"io"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

func attachTCPReset(env *attachEnv) (*Attachment, error) {
	var objs tcpresetObjects
	spec, err := loadTcpreset()
	if err := env.load("tcpreset", spec, err, &objs); err != nil {
		return nil, err
	}
	var closers []io.Closer
	var errs []error
	if l, err := tracepoint("tcp", "tcp_send_reset", objs.HandleTcpSendReset); err == nil {
		closers = append(closers, l)
	} else {
		errs = append(errs, err)
	}
	if l, err := tracepoint("tcp", "tcp_receive_reset", objs.HandleTcpReceiveReset); err == nil {
		closers = append(closers, l)
	} else {
		errs = append(errs, err)
	}
	if len(closers) == 0 {
		_ = objs.Close()
		return nil, errors.Join(errs...)
	}
	if len(errs) > 0 {
		env.logger.Warn("tcp_reset: one direction unavailable", zap.Error(errors.Join(errs...)))
	}
	return &Attachment{
		closers: append(closers, &objs),
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			for dir, attr := range []metadata.AttributeKernelTCPResetDirection{metadata.AttributeKernelTCPResetDirectionSent, metadata.AttributeKernelTCPResetDirectionReceived} {
				var values []uint64
				if err := objs.Resets.Lookup(uint32(dir), &values); err != nil {
					return fmt.Errorf("read reset counters: %w", err)
				}
				var n uint64
				for _, v := range values {
					n += v
				}
				mb.RecordKernelTCPResetsDataPoint(now, int64(n), attr)
			}
			return nil
		},
	}, nil
}
