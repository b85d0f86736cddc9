package probes

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap/zaptest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
)

type bootWall struct{}

func (bootWall) Wall(ns uint64) time.Time { return time.Unix(0, int64(ns)) }

// The fallback for kernels where tp_btf/tcp_retransmit_skb cannot attach:
// the classic tracepoint still reports every retransmit of a lossy
// transfer with its socket, owner and kind, and leaves the wait out.
func TestRetransmitClassicFallback(t *testing.T) {
	testenv.RequireRoot(t, "ip", "nft")
	const port = 18095
	a := testenv.NewNetns(t, "chx-nrf-cli")
	b := testenv.NewNetns(t, "chx-nrf-srv")
	link := testenv.NewVethPair(t, a, b, "chxrfa", "chxrfb", "198.18.132.1/30", "198.18.132.2/30")
	testenv.DropInput(t, b, port, 20)

	set, err := Load(Options{Enabled: []string{"tcp_retransmit", "tcp_connection"}, RingBufferBytes: 1 << 22, Logger: zaptest.NewLogger(t), classicRetransmit: true})
	require.NoError(t, err)
	defer set.Close()
	require.Equal(t, []string{"tcp_retransmit", "tcp_connection"}, set.Attached())
	rd, err := ringbuf.NewReader(set.Events)
	require.NoError(t, err)
	defer rd.Close()

	local, remote := link.Transfer(t, port, 2<<20)

	dec := &event.Decoder{Clock: bootWall{}}
	records := plog.NewLogRecordSlice()
	rd.SetDeadline(time.Now().Add(2 * time.Second))
	for {
		rec, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		require.NoError(t, err)
		if h, err := event.DecodeHeader(rec.RawSample); err == nil && h.Type == event.TypeTCPRetransmit {
			_, err := dec.Decode(rec.RawSample, records)
			require.NoError(t, err)
		}
	}
	var mine int
	for i := 0; i < records.Len(); i++ {
		attrs := records.At(i).Attributes().AsRaw()
		if attrs[contract.AttrNetworkLocalPort] != int64(local.Port()) || attrs[contract.AttrNetworkPeerAddress] != remote.Addr().String() {
			continue
		}
		mine++
		assert.Equal(t, int64(os.Getpid()), attrs[contract.AttrProcessPID])
		assert.Contains(t, []any{contract.RetransmitFast, contract.RetransmitTimeout, contract.RetransmitOther}, attrs[contract.AttrTCPRetransmitKind])
		assert.NotContains(t, attrs, contract.AttrTCPRetransmitWaitNs, "the classic tracepoint cannot measure the wait")
	}
	require.Positive(t, mine, "no retransmit of %s -> %s from the classic tracepoint", local, remote)
}
