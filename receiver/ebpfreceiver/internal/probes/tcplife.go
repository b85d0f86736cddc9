package probes

import (
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

var (
	histTCPSrtt = HistogramMetric{
		Name:        "kernel.tcp.srtt",
		Description: "Smoothed round-trip time of each TCP connection when it closed, from a log2 histogram kept in the kernel.",
		Unit:        "us",
	}
	histTCPDuration = HistogramMetric{
		Name:        "kernel.tcp.connection.duration",
		Description: "Lifetime of each TCP connection from SYN to close, from a log2 histogram kept in the kernel.",
		Unit:        "ms",
	}
)

func attachTCPConnection(env *attachEnv) (*Attachment, error) {
	var objs tcplifeObjects
	spec, err := loadTcplife()
	if err := env.load("tcplife", spec, err, &objs); err != nil {
		return nil, err
	}
	l, err := tracepoint("sock", "inet_sock_set_state", objs.HandleInetSockSetState)
	if err != nil {
		_ = objs.Close()
		return nil, err
	}
	closers := []io.Closer{l}
	// accept() exits name the owner of passive sockets; without them the
	// server side's records lack a pid, but the probe still works.
	for _, h := range []struct {
		name string
		prog *ebpf.Program
	}{{"sys_exit_accept4", objs.HandleSysExitAccept4}, {"sys_exit_accept", objs.HandleSysExitAccept}} {
		al, err := link.Tracepoint("syscalls", h.name, h.prog, nil)
		if err != nil {
			env.logger.Info("accept hook unavailable: passive connections are reported without their process", zap.String("hook", "syscalls:"+h.name), zap.Error(err))
			continue
		}
		closers = append(closers, al)
	}
	closers = append(closers, &objs)
	start := pcommon.NewTimestampFromTime(env.now())
	return &Attachment{
		closers: closers,
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			var (
				key    uint32
				values []uint64
			)
			iter := objs.Transitions.Iterate()
			for iter.Next(&key, &values) {
				var n uint64
				for _, v := range values {
					n += v
				}
				if n == 0 {
					continue
				}
				mb.RecordKernelTCPConnectionsDataPoint(now, int64(n), event.TCPStateName(uint8(key>>4)), event.TCPStateName(uint8(key&15)))
			}
			if err := iter.Err(); err != nil {
				return fmt.Errorf("read tcp transitions: %w", err)
			}
			return nil
		},
		CollectHistograms: func(now pcommon.Timestamp, ms pmetric.MetricSlice) error {
			srtt, err := readLog2Histogram(objs.SrttHist)
			if err != nil {
				return err
			}
			dur, err := readLog2Histogram(objs.DurationHist)
			if err != nil {
				return err
			}
			appendHistogram(ms, histTCPSrtt, start, now, srtt)
			appendHistogram(ms, histTCPDuration, start, now, dur)
			return nil
		},
	}, nil
}
