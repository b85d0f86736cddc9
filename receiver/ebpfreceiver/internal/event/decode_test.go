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

// fixedClock maps boot time 0 to a fixed wall time.
type fixedClock struct{ base time.Time }

func (c fixedClock) Wall(ns uint64) time.Time { return c.base.Add(time.Duration(ns)) }

// header writes a record header into b.
func putHeader(b []byte, typ Type, bootNs uint64, pid uint32, comm string) {
	le := binary.LittleEndian
	le.PutUint64(b[headerTs:], bootNs)
	le.PutUint32(b[headerType:], uint32(typ))
	le.PutUint32(b[headerPID:], pid)
	le.PutUint32(b[headerTID:], pid+1)
	copy(b[headerComm:headerComm+commLen], comm)
}

// putTupleBytes writes a sock_tuple into b.
func putTupleBytes(b []byte, local, peer netip.AddrPort, netns uint32, state uint8) {
	le := binary.LittleEndian
	family := uint16(afInet6)
	if local.Addr().Is4() {
		family = afInet
		a, p := local.Addr().As4(), peer.Addr().As4()
		copy(b[tupleSaddr:], a[:])
		copy(b[tupleDaddr:], p[:])
	} else {
		a, p := local.Addr().As16(), peer.Addr().As16()
		copy(b[tupleSaddr:], a[:])
		copy(b[tupleDaddr:], p[:])
	}
	le.PutUint16(b[tupleSport:], local.Port())
	le.PutUint16(b[tupleDport:], peer.Port())
	le.PutUint16(b[tupleFamily:], family)
	b[tupleProtocol] = ipprotoTCP
	b[tupleState] = state
	le.PutUint32(b[tupleNetns:], netns)
}

func TestDecodeTCPRetransmit(t *testing.T) {
	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		local, peer string
		wantLocal   string
		wantPeer    string
		wantNetType string
		kind        uint8
		waitNs      uint64
		wantKind    string
	}{
		{"ipv4 timeout", "198.18.0.1:40000", "198.18.0.2:80", "198.18.0.1", "198.18.0.2", "ipv4", 2, 216_000_000, contract.RetransmitTimeout},
		{"ipv6 fast", "[2001:db8::1]:40000", "[2001:db8::2]:80", "2001:db8::1", "2001:db8::2", "ipv6", 1, 1_500_000, contract.RetransmitFast},
		{"ipv4-mapped other unmeasured", "[::ffff:198.18.0.1]:40000", "[::ffff:198.18.0.2]:80", "198.18.0.1", "198.18.0.2", "ipv4", 3, 0, contract.RetransmitOther},
		{"fallback: no kind, no wait", "198.18.0.1:40000", "198.18.0.2:80", "198.18.0.1", "198.18.0.2", "ipv4", 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := make([]byte, TCPRetransmitSize)
			putHeader(raw, TypeTCPRetransmit, uint64(1500*time.Millisecond), 4242, "curl")
			putTupleBytes(raw[HeaderSize:], netip.MustParseAddrPort(tt.local), netip.MustParseAddrPort(tt.peer), 4026531840, 1)
			raw[tcpRetransmitKind] = tt.kind
			binary.LittleEndian.PutUint64(raw[tcpRetransmitWait:], tt.waitNs)

			dst := plog.NewLogRecordSlice()
			typ, err := (&Decoder{Clock: fixedClock{base}}).Decode(raw, dst)
			require.NoError(t, err)
			require.Equal(t, TypeTCPRetransmit, typ)
			require.Equal(t, 1, dst.Len())
			lr := dst.At(0)
			assert.Equal(t, contract.EventTCPRetransmit, lr.EventName())
			assert.Equal(t, base.Add(1500*time.Millisecond), lr.Timestamp().AsTime())
			want := map[string]any{
				contract.AttrNetworkTransport:    "tcp",
				contract.AttrNetworkType:         tt.wantNetType,
				contract.AttrNetworkLocalAddress: tt.wantLocal,
				contract.AttrNetworkLocalPort:    int64(40000),
				contract.AttrNetworkPeerAddress:  tt.wantPeer,
				contract.AttrNetworkPeerPort:     int64(80),
				contract.AttrNetnsInode:          int64(4026531840),
				contract.AttrConnectionState:     "established",
				contract.AttrProcessPID:          int64(4242),
				contract.AttrThreadID:            int64(4243),
				contract.AttrThreadName:          "curl",
				contract.AttrIsolationLayer:      contract.LayerNetwork,
			}
			if tt.wantKind != "" {
				want[contract.AttrTCPRetransmitKind] = tt.wantKind
			}
			if tt.waitNs > 0 {
				want[contract.AttrTCPRetransmitWaitNs] = int64(tt.waitNs)
			}
			assert.Equal(t, want, lr.Attributes().AsRaw())
		})
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	d := &Decoder{Clock: fixedClock{}}
	short := make([]byte, HeaderSize)
	putHeader(short, TypeTCPRetransmit, 1, 0, "")
	unknown := make([]byte, HeaderSize)
	putHeader(unknown, Type(999), 1, 0, "")
	badFamily := make([]byte, TCPRetransmitSize)
	putHeader(badFamily, TypeTCPRetransmit, 1, 0, "")

	for name, raw := range map[string][]byte{"empty": nil, "short": short, "unknown type": unknown, "bad family": badFamily} {
		t.Run(name, func(t *testing.T) {
			dst := plog.NewLogRecordSlice()
			_, err := d.Decode(raw, dst)
			require.Error(t, err)
			assert.Equal(t, 0, dst.Len(), "nothing appended on error")
		})
	}
}

func FuzzDecode(f *testing.F) {
	seed := make([]byte, TCPRetransmitSize)
	putHeader(seed, TypeTCPRetransmit, 1, 1, "x")
	putTupleBytes(seed[HeaderSize:], netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2"), 1, 1)
	f.Add(seed)
	f.Add([]byte{})
	f.Add(connectionRecord("[2001:db8:128::1]:1", "[2001:db8:128::2]:2", 2))
	f.Add(dropRecord(12, "eth0", "virtio_net"))
	reset := make([]byte, TCPResetSize)
	putHeader(reset, TypeTCPReset, 1, 1, "x")
	putTupleBytes(reset[HeaderSize:], netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2"), 1, 7)
	f.Add(reset)
	tx := make([]byte, NetTxTimeoutSize)
	putHeader(tx, TypeNetTxTimeout, 1, 0, "")
	copy(tx[txTimeoutDevice:], "eth0eth0eth0eth0") // no terminator
	f.Add(tx)
	for _, raw := range hostRecords() {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		dst := plog.NewLogRecordSlice()
		_, err := (&Decoder{Clock: fixedClock{}, Names: testNames{}}).Decode(raw, dst)
		if err != nil && dst.Len() != 0 {
			t.Fatalf("error %v but %d records appended", err, dst.Len())
		}
	})
}
