package event

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

type testNames struct{}

func (testNames) DropReason(v uint32) string {
	if v == 12 {
		return "NETFILTER_DROP"
	}
	return ""
}

func (testNames) ResetReason(v uint32) string {
	if v == 1 {
		return "NO_SOCKET"
	}
	return ""
}

var base = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func decodeOne(t *testing.T, d *Decoder, raw []byte, want Type) plog.LogRecord {
	t.Helper()
	dst := plog.NewLogRecordSlice()
	typ, err := d.Decode(raw, dst)
	require.NoError(t, err)
	require.Equal(t, want, typ)
	require.Equal(t, 1, dst.Len())
	return dst.At(0)
}

func connectionRecord(local, peer string, oldstate uint8) []byte {
	le := binary.LittleEndian
	raw := make([]byte, TCPConnectionSize)
	putHeader(raw, TypeTCPConnection, uint64(2*time.Second), 777, "client")
	putTupleBytes(raw[HeaderSize:], netip.MustParseAddrPort(local), netip.MustParseAddrPort(peer), 4026532000, oldstate)
	le.PutUint64(raw[tcpConnDuration:], uint64(1500*time.Millisecond))
	le.PutUint64(raw[tcpConnBytesSent:], 1<<20)
	le.PutUint64(raw[tcpConnBytesReceived:], 42)
	le.PutUint32(raw[tcpConnSrtt:], 250)
	le.PutUint32(raw[tcpConnRetrans:], 3)
	raw[tcpConnOldState] = oldstate
	return raw
}

func TestDecodeTCPConnection(t *testing.T) {
	d := &Decoder{Clock: fixedClock{base}}
	tests := []struct {
		name, local, peer string
		old               uint8
		wantState         string
		wantFailed        bool
		wantType          string
	}{
		{"closed ipv4", "198.18.128.1:40000", "198.18.128.2:80", 4, "fin_wait_1", false, "ipv4"},
		{"closed ipv6", "[2001:db8:128::1]:40000", "[2001:db8:128::2]:80", 9, "last_ack", false, "ipv6"},
		{"failed connect mapped", "[::ffff:198.18.128.1]:40000", "[::ffff:198.18.128.2]:81", 2, "syn_sent", true, "ipv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := decodeOne(t, d, connectionRecord(tt.local, tt.peer, tt.old), TypeTCPConnection)
			assert.Equal(t, contract.EventTCPConnection, lr.EventName())
			assert.Equal(t, base.Add(2*time.Second), lr.Timestamp().AsTime())
			l, p := netip.MustParseAddrPort(tt.local), netip.MustParseAddrPort(tt.peer)
			want := map[string]any{
				contract.AttrNetworkTransport:    "tcp",
				contract.AttrNetworkType:         tt.wantType,
				contract.AttrNetworkLocalAddress: l.Addr().Unmap().String(),
				contract.AttrNetworkLocalPort:    int64(l.Port()),
				contract.AttrNetworkPeerAddress:  p.Addr().Unmap().String(),
				contract.AttrNetworkPeerPort:     int64(p.Port()),
				contract.AttrNetnsInode:          int64(4026532000),
				contract.AttrConnectionState:     tt.wantState,
				contract.AttrTCPConnectFailed:    tt.wantFailed,
				contract.AttrTCPDurationMs:       int64(1500),
				contract.AttrTCPBytesSent:        int64(1 << 20),
				contract.AttrTCPBytesReceived:    int64(42),
				contract.AttrTCPSrttUs:           int64(250),
				contract.AttrTCPRetransmits:      int64(3),
				contract.AttrProcessPID:          int64(777),
				contract.AttrThreadID:            int64(778),
				contract.AttrThreadName:          "client",
				contract.AttrIsolationLayer:      contract.LayerNetwork,
			}
			assert.Equal(t, want, lr.Attributes().AsRaw())
			if tt.wantFailed {
				assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
				assert.Contains(t, lr.Body().Str(), "connect failed")
			}
		})
	}
}

func TestDecodeTCPReset(t *testing.T) {
	d := &Decoder{Clock: fixedClock{base}, Names: testNames{}}
	for _, tt := range []struct {
		name       string
		dir        uint8
		reason     uint32
		wantDir    string
		wantReason any
	}{
		{"sent", 0, 1, "sent", "NO_SOCKET"},
		{"sent unknown reason", 0, 99, "sent", "REASON_99"},
		{"received", 1, 0, "received", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := make([]byte, TCPResetSize)
			putHeader(raw, TypeTCPReset, 5, 0, "")
			putTupleBytes(raw[HeaderSize:], netip.MustParseAddrPort("198.18.128.2:81"), netip.MustParseAddrPort("198.18.128.1:40000"), 9, 0)
			binary.LittleEndian.PutUint32(raw[tcpResetReason:], tt.reason)
			raw[tcpResetDir] = tt.dir
			lr := decodeOne(t, d, raw, TypeTCPReset)
			a := lr.Attributes().AsRaw()
			assert.Equal(t, contract.EventTCPReset, lr.EventName())
			assert.Equal(t, tt.wantDir, a[contract.AttrTCPResetDirection])
			assert.Equal(t, tt.wantReason, a[contract.AttrTCPResetReason])
			assert.Equal(t, "198.18.128.2", a[contract.AttrNetworkLocalAddress])
			assert.Equal(t, int64(40000), a[contract.AttrNetworkPeerPort])
			assert.NotContains(t, a, contract.AttrConnectionState, "state 0 is not a TCP state")
			assert.NotContains(t, a, contract.AttrProcessPID, "no owner known")
			assert.Equal(t, contract.LayerNetwork, a[contract.AttrIsolationLayer])
		})
	}
	raw := make([]byte, TCPResetSize)
	putHeader(raw, TypeTCPReset, 5, 0, "")
	putTupleBytes(raw[HeaderSize:], netip.MustParseAddrPort("198.18.128.2:81"), netip.MustParseAddrPort("198.18.128.1:40000"), 9, 0)
	raw[tcpResetDir] = 7
	_, err := d.Decode(raw, plog.NewLogRecordSlice())
	assert.ErrorContains(t, err, "direction")
}

func dropRecord(reason uint32, dev, driver string) []byte {
	raw := make([]byte, SKBDropSize)
	putHeader(raw, TypeSKBDrop, 9, 0, "")
	putTupleBytes(raw[HeaderSize:], netip.MustParseAddrPort("[2001:db8:128::2]:8080"), netip.MustParseAddrPort("[2001:db8:128::1]:40000"), 11, 0)
	binary.LittleEndian.PutUint32(raw[skbDropReason:], reason)
	binary.LittleEndian.PutUint32(raw[skbDropIfindex:], 3)
	copy(raw[skbDropIfname:], dev)
	copy(raw[skbDropDriver:], driver)
	return raw
}

func TestDecodeSKBDrop(t *testing.T) {
	d := &Decoder{Clock: fixedClock{base}, Names: testNames{}}
	for _, tt := range []struct {
		name       string
		reason     uint32
		dev, drv   string
		wantReason string
		wantLayer  string
	}{
		{"netfilter on veth", 12, "chxnb", "veth", "NETFILTER_DROP", contract.LayerL3},
		{"netfilter on virtio", 12, "eth0", "virtio_net", "NETFILTER_DROP", contract.LayerL3},
		{"other on virtio", 2, "eth0", "virtio_net", "REASON_2", contract.LayerL2},
		{"other on veth", 2, "chxnb", "veth", "REASON_2", contract.LayerL3},
		{"other on a NIC", 2, "eno1", "ixgbe", "REASON_2", contract.LayerNetwork},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lr := decodeOne(t, d, dropRecord(tt.reason, tt.dev, tt.drv), TypeSKBDrop)
			want := map[string]any{
				contract.AttrNetworkTransport:       "tcp",
				contract.AttrNetworkType:            "ipv6",
				contract.AttrNetworkLocalAddress:    "2001:db8:128::2",
				contract.AttrNetworkLocalPort:       int64(8080),
				contract.AttrNetworkPeerAddress:     "2001:db8:128::1",
				contract.AttrNetworkPeerPort:        int64(40000),
				contract.AttrNetnsInode:             int64(11),
				contract.AttrSKBDropReason:          tt.wantReason,
				contract.AttrNetworkInterface:       tt.dev,
				contract.AttrNetworkInterfaceDriver: tt.drv,
				contract.AttrIsolationLayer:         tt.wantLayer,
			}
			assert.Equal(t, want, lr.Attributes().AsRaw())
		})
	}
	// Without names (BTF unavailable) the number is kept.
	lr := decodeOne(t, &Decoder{Clock: fixedClock{base}}, dropRecord(12, "x", ""), TypeSKBDrop)
	v, _ := lr.Attributes().Get(contract.AttrSKBDropReason)
	assert.Equal(t, "REASON_12", v.Str())
}

func TestDecodeNetTxTimeout(t *testing.T) {
	d := &Decoder{Clock: fixedClock{base}}
	for _, tt := range []struct{ dev, drv, layer string }{
		{"eth0", "virtio_net", contract.LayerL2},
		{"eno1", "ixgbe", contract.LayerL0},
	} {
		t.Run(tt.drv, func(t *testing.T) {
			raw := make([]byte, NetTxTimeoutSize)
			putHeader(raw, TypeNetTxTimeout, uint64(time.Second), 0, "")
			copy(raw[txTimeoutDevice:], tt.dev)
			copy(raw[txTimeoutDriver:], tt.drv)
			binary.LittleEndian.PutUint32(raw[txTimeoutQueue:], 2)
			lr := decodeOne(t, d, raw, TypeNetTxTimeout)
			assert.Equal(t, contract.EventNetTxTimeout, lr.EventName())
			assert.Equal(t, base.Add(time.Second), lr.Timestamp().AsTime())
			assert.Equal(t, map[string]any{
				contract.AttrNetworkInterface:       tt.dev,
				contract.AttrNetworkInterfaceDriver: tt.drv,
				contract.AttrNetworkQueueIndex:      int64(2),
				contract.AttrIsolationLayer:         tt.layer,
			}, lr.Attributes().AsRaw())
			assert.Equal(t, plog.SeverityNumberError, lr.SeverityNumber())
		})
	}
}

func TestDecodeFilter(t *testing.T) {
	onlyPort80 := func(tu Tuple) bool { return tu.Local.Port() == 80 || tu.Peer.Port() == 80 }
	d := &Decoder{Clock: fixedClock{base}, Filter: onlyPort80}
	dst := plog.NewLogRecordSlice()
	_, err := d.Decode(connectionRecord("198.18.128.1:40000", "198.18.128.2:80", 1), dst)
	require.NoError(t, err)
	typ, err := d.Decode(connectionRecord("198.18.128.1:40000", "198.18.128.2:81", 1), dst)
	require.ErrorIs(t, err, ErrFiltered)
	assert.Equal(t, TypeTCPConnection, typ)
	assert.Equal(t, 1, dst.Len())
}

func TestDecodeShortRecords(t *testing.T) {
	d := &Decoder{Clock: fixedClock{}}
	for typ, size := range map[Type]int{TypeTCPConnection: TCPConnectionSize, TypeTCPReset: TCPResetSize, TypeSKBDrop: SKBDropSize, TypeNetTxTimeout: NetTxTimeoutSize} {
		raw := make([]byte, size-1)
		putHeader(raw, typ, 1, 0, "")
		dst := plog.NewLogRecordSlice()
		_, err := d.Decode(raw, dst)
		var short *ErrShort
		require.ErrorAs(t, err, &short, "type %d", typ)
		assert.Equal(t, 0, dst.Len())
	}
}
