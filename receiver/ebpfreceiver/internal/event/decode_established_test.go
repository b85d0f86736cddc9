package event

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

func establishedRecord(local, peer string, side uint8) []byte {
	raw := make([]byte, TCPEstablishedSize)
	putHeader(raw, TypeTCPEstablished, uint64(3*time.Second), 4242, "server")
	putTupleBytes(raw[HeaderSize:], netip.MustParseAddrPort(local), netip.MustParseAddrPort(peer), 4026532001, 1)
	raw[tcpEstablishedSide] = side
	return raw
}

func TestDecodeTCPEstablished(t *testing.T) {
	d := &Decoder{Clock: fixedClock{base}}
	tests := []struct {
		name, local, peer string
		side              uint8
		wantSide, netType string
	}{
		{"connect ipv4", "198.18.128.1:40000", "198.18.128.2:80", 1, contract.EstablishedConnect, "ipv4"},
		{"accept mapped", "[::ffff:198.18.128.2]:80", "[::ffff:198.18.128.1]:40000", 2, contract.EstablishedAccept, "ipv4"},
		{"existing ipv6", "[2001:db8:128::1]:40000", "[2001:db8:128::2]:443", 3, contract.EstablishedExisting, "ipv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := decodeOne(t, d, establishedRecord(tt.local, tt.peer, tt.side), TypeTCPEstablished)
			assert.Equal(t, contract.EventTCPEstablished, lr.EventName())
			assert.Equal(t, base.Add(3*time.Second), lr.Timestamp().AsTime(), "time the connection was established")
			l, p := netip.MustParseAddrPort(tt.local), netip.MustParseAddrPort(tt.peer)
			assert.Equal(t, map[string]any{
				contract.AttrNetworkTransport:    "tcp",
				contract.AttrNetworkType:         tt.netType,
				contract.AttrNetworkLocalAddress: l.Addr().Unmap().String(),
				contract.AttrNetworkLocalPort:    int64(l.Port()),
				contract.AttrNetworkPeerAddress:  p.Addr().Unmap().String(),
				contract.AttrNetworkPeerPort:     int64(p.Port()),
				contract.AttrNetnsInode:          int64(4026532001),
				contract.AttrProcessPID:          int64(4242),
				contract.AttrThreadID:            int64(4243),
				contract.AttrThreadName:          "server",
				contract.AttrConnectionState:     "established",
				contract.AttrTCPEstablishedSide:  tt.wantSide,
				contract.AttrIsolationLayer:      contract.LayerNetwork,
			}, lr.Attributes().AsRaw())
		})
	}
}

func TestDecodeTCPEstablishedRejects(t *testing.T) {
	d := &Decoder{Clock: fixedClock{base}}
	dst := plog.NewLogRecordSlice()
	_, err := d.Decode(establishedRecord("198.18.128.1:1", "198.18.128.2:2", 9), dst)
	require.ErrorContains(t, err, "unknown side 9")
	_, err = d.Decode(establishedRecord("198.18.128.1:1", "198.18.128.2:2", 1)[:TCPEstablishedSize-1], dst)
	var short *ErrShort
	require.ErrorAs(t, err, &short)
	assert.Zero(t, dst.Len(), "nothing appended on error")
}
