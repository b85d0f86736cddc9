package probes

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

var (
	histTCPSrtt = HistogramMetric{
		Name:        "kernel.tcp.srtt",
		Description: "Smoothed round-trip time of each TCP connection when it closed, from a log2 histogram kept in the kernel.",
		Scale:       1e-6, // the kernel counts µs
	}
	histTCPDuration = HistogramMetric{
		Name:        "kernel.tcp.connection.duration",
		Description: "Lifetime of each TCP connection from SYN to close, from a log2 histogram kept in the kernel.",
		Scale:       1e-3, // the kernel counts ms
	}
)

// tcplifeCore is the lifecycle program and its maps; the accept-owner
// programs load separately so that a kernel without them (no BTF for
// tp_btf, or no sock_*_length tracepoints) keeps the rest.
type tcplifeCore struct {
	HandleInetSockSetState *ebpf.Program `ebpf:"handle_inet_sock_set_state"`
	tcplifeMaps
}

type tcplifeAcceptOwner struct {
	HandleSockRecvLength *ebpf.Program `ebpf:"handle_sock_recv_length"`
	HandleSockSendLength *ebpf.Program `ebpf:"handle_sock_send_length"`
}

func (o *tcplifeAcceptOwner) Close() error {
	return errors.Join(o.HandleSockRecvLength.Close(), o.HandleSockSendLength.Close())
}

func attachTCPConnection(env *attachEnv) (*Attachment, error) {
	var objs tcplifeCore
	spec, err := loadTcplife()
	if err := env.load("tcplife", spec, err, &objs); err != nil {
		return nil, err
	}
	l, err := tracepoint("sock", "inet_sock_set_state", objs.HandleInetSockSetState)
	if err != nil {
		_ = objs.HandleInetSockSetState.Close()
		_ = objs.tcplifeMaps.Close()
		return nil, err
	}
	closers := []io.Closer{l, objs.HandleInetSockSetState, &objs.tcplifeMaps}
	// Accepted sockets are claimed by their owner's close (in the
	// program), by the walk below while any waits, and — when enabled — by
	// their first send or receive. The hooks are off by default: they fire
	// on every socket send and receive of the node (BENCHMARKS.md).
	if env.options.AcceptOwnerHooks {
		ownerClosers, err := attachAcceptOwner(env, spec, objs.AcceptPending)
		if err != nil {
			env.logger.Info("accept-owner hooks unavailable: accepted connections are named by the periodic walk and at close",
				zap.Strings("hooks", []string{"tp_btf/sock_recv_length", "tp_btf/sock_send_length"}), zap.Error(err))
		}
		// Links before the programs and maps they use.
		closers = append(ownerClosers, closers...)
	}
	// The connections established before now, and accepted ones still
	// without an owner: without the iterator, both are reported without
	// their process until they close.
	var snapshot, walk func() (int, error)
	if snap, err := loadTCPSnapshot(env, objs.AcceptPending); err != nil {
		env.logger.Info("task_file iterator unavailable: connections opened before the collector started, and accepted ones until they close, are reported without their process",
			zap.String("hook", "iter/task_file"), zap.Error(err))
	} else {
		closers = append(closers, snap)
		snapshot = snap.Run
		walk = func() (int, error) {
			if !anyPending(objs.AcceptPending) {
				return 0, nil
			}
			return snap.Run()
		}
	}
	start := pcommon.NewTimestampFromTime(env.now())
	return &Attachment{
		closers:  closers,
		Snapshot: snapshot,
		PollEvents: func(time.Time, plog.LogRecordSlice) error {
			if walk == nil {
				return nil
			}
			_, err := walk()
			return err
		},
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

// attachAcceptOwner loads the accept-owner programs sharing the lifecycle
// program's accept_pending map and attaches them to the socket-path
// tracepoints. It returns the closers, links first.
func attachAcceptOwner(env *attachEnv, spec *ebpf.CollectionSpec, pending *ebpf.Map) ([]io.Closer, error) {
	replacements := maps.Clone(env.opts.MapReplacements)
	replacements["accept_pending"] = pending
	var progs tcplifeAcceptOwner
	if err := spec.LoadAndAssign(&progs, &ebpf.CollectionOptions{MapReplacements: replacements}); err != nil {
		return nil, fmt.Errorf("load accept-owner programs: %w", err)
	}
	var links []io.Closer
	for _, h := range []struct {
		hook string
		prog *ebpf.Program
	}{{"sock_recv_length", progs.HandleSockRecvLength}, {"sock_send_length", progs.HandleSockSendLength}} {
		l, err := btfTracepoint(h.prog, h.hook)
		if err != nil {
			for _, l := range links {
				_ = l.Close()
			}
			_ = progs.Close()
			return nil, err
		}
		links = append(links, l)
	}
	return append(links, &progs), nil
}

// pendingWindow bounds how long the walk keeps looking for the owner of an
// accepted socket: one no walk found by then is held by no task's file
// table (an in-kernel server such as nfsd, an io_uring fixed file), and
// walking again would not find it; its close, or its owner's close, still
// claims or clears it.
const pendingWindow = 30 * time.Second

// anyPending reports whether an accepted socket established within
// pendingWindow waits for its owner.
func anyPending(pending *ebpf.Map) bool {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return true
	}
	cutoff := uint64(ts.Nano()) - uint64(pendingWindow)
	var key, established uint64
	iter := pending.Iterate()
	for iter.Next(&key, &established) {
		if established > cutoff {
			return true
		}
	}
	return false
}
