package probes

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// tcpretransBTF measures each retransmit's wait: tp_btf programs on
// tcp_retransmit_skb and tcp_cong_state_set (bpf/tcpretrans.c).
type tcpretransBTF struct {
	HandleTcpRetransmitBtf *ebpf.Program `ebpf:"handle_tcp_retransmit_btf"`
	HandleTcpCongStateSet  *ebpf.Program `ebpf:"handle_tcp_cong_state_set"`
	Retransmits            *ebpf.Map     `ebpf:"retransmits"`
	LossSent               *ebpf.Map     `ebpf:"loss_sent"`
}

func (o *tcpretransBTF) Close() error {
	return errors.Join(o.HandleTcpRetransmitBtf.Close(), o.HandleTcpCongStateSet.Close(), o.Retransmits.Close(), o.LossSent.Close())
}

// tcpretransClassic is the fallback on the classic tracepoint: the kind of
// each retransmit, not its wait.
type tcpretransClassic struct {
	HandleTcpRetransmitSkb *ebpf.Program `ebpf:"handle_tcp_retransmit_skb"`
	Retransmits            *ebpf.Map     `ebpf:"retransmits"`
}

func (o *tcpretransClassic) Close() error {
	return errors.Join(o.HandleTcpRetransmitSkb.Close(), o.Retransmits.Close())
}

func attachTCPRetransmit(env *attachEnv) (*Attachment, error) {
	closers, counts, err := attachTCPRetransmitBTF(env)
	if env.options.classicRetransmit && err == nil {
		for _, c := range closers {
			_ = c.Close()
		}
		err = errors.New("classic tracepoint requested")
	}
	if err != nil {
		env.logger.Info("tp_btf/tcp_retransmit_skb unavailable: retransmits are reported from the classic tracepoint, without kernel.tcp.retransmit.wait_ns",
			zap.String("hook", "tracepoint/tcp/tcp_retransmit_skb"), zap.Error(err))
		closers, counts, err = attachTCPRetransmitClassic(env)
		if err != nil {
			return nil, err
		}
	}
	ephemeral, rangeErr := readEphemeralRange(filepath.Join(env.host.ProcRoot, "sys/net/ipv4/ip_local_port_range"))
	if rangeErr != nil {
		env.logger.Info("ephemeral port range unreadable: kernel.tcp.retransmits takes Linux's default to tell server ports", zap.Error(rangeErr))
	}
	type series struct {
		peer string
		port uint16
	}
	return &Attachment{
		closers: closers,
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			var (
				key   tcpretransRetransKey
				count uint64
			)
			// The kernel counts per connection end; the metric is per peer
			// and server port (bounded cardinality), so ends are summed.
			sums := map[series]uint64{}
			iter := counts.Iterate()
			for iter.Next(&key, &count) {
				peer := addrFrom(key.Family, key.Peer)
				sums[series{peer.String(), ephemeral.serverPort(key.LocalPort, key.PeerPort)}] += count
			}
			if err := iter.Err(); err != nil {
				return fmt.Errorf("read retransmit counters: %w", err)
			}
			for s, n := range sums {
				mb.RecordKernelTCPRetransmitsDataPoint(now, int64(n), s.peer, int64(s.port))
			}
			return nil
		},
	}, nil
}

func attachTCPRetransmitBTF(env *attachEnv) ([]io.Closer, *ebpf.Map, error) {
	var objs tcpretransBTF
	spec, err := loadTcpretrans()
	if err := env.load("tcpretrans", spec, err, &objs); err != nil {
		return nil, nil, err
	}
	closers, err := attachAll(&objs,
		// The episode's start first, so no retransmit precedes it.
		func() (link.Link, error) { return btfTracepoint(objs.HandleTcpCongStateSet, "tcp_cong_state_set") },
		func() (link.Link, error) { return btfTracepoint(objs.HandleTcpRetransmitBtf, "tcp_retransmit_skb") },
	)
	if err != nil {
		return nil, nil, err
	}
	return closers, objs.Retransmits, nil
}

func attachTCPRetransmitClassic(env *attachEnv) ([]io.Closer, *ebpf.Map, error) {
	var objs tcpretransClassic
	spec, err := loadTcpretrans()
	if err := env.load("tcpretrans", spec, err, &objs); err != nil {
		return nil, nil, err
	}
	closers, err := attachAll(&objs, func() (link.Link, error) {
		return tracepoint("tcp", "tcp_retransmit_skb", objs.HandleTcpRetransmitSkb)
	})
	if err != nil {
		return nil, nil, err
	}
	return closers, objs.Retransmits, nil
}
