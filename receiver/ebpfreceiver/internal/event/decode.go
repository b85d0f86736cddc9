package event

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/procinfo"
)

const (
	afInet  = 2
	afInet6 = 10

	ipprotoTCP = 6
	ipprotoUDP = 17
)

// WallClock converts a kernel CLOCK_BOOTTIME value to wall-clock time.
type WallClock interface {
	Wall(bootNs uint64) time.Time
}

// Header is the common start of every record.
type Header struct {
	BootNs   uint64
	CgroupID uint64
	Type     Type
	PID      uint32
	TID      uint32
	Comm     string
}

// Tuple is a socket's addresses as the local side sees them.
type Tuple struct {
	Local, Peer netip.AddrPort
	Protocol    uint8
	State       uint8
	NetnsInode  uint32
}

// Decoder turns raw ring-buffer records into log records. It holds no state
// besides the clock, so one Decoder serves every probe.
type Decoder struct {
	Clock WallClock
	// Procs, when set, resolves pids and cgroup ids to container identity.
	Procs *procinfo.Cache
}

// ErrShort is returned for a record smaller than its type's layout.
type ErrShort struct {
	Type      Type
	Got, Want int
}

func (e *ErrShort) Error() string {
	return fmt.Sprintf("event type %d: record of %d bytes, want %d", e.Type, e.Got, e.Want)
}

// PeekType returns the record's event type without decoding it.
func PeekType(raw []byte) (Type, error) {
	if len(raw) < HeaderSize {
		return 0, &ErrShort{Got: len(raw), Want: HeaderSize}
	}
	return Type(binary.LittleEndian.Uint32(raw[headerType:])), nil
}

// DecodeHeader reads the common header.
func DecodeHeader(raw []byte) (Header, error) {
	if len(raw) < HeaderSize {
		return Header{}, &ErrShort{Got: len(raw), Want: HeaderSize}
	}
	le := binary.LittleEndian
	return Header{
		BootNs:   le.Uint64(raw[headerTs:]),
		CgroupID: le.Uint64(raw[headerCgroupID:]),
		Type:     Type(le.Uint32(raw[headerType:])),
		PID:      le.Uint32(raw[headerPID:]),
		TID:      le.Uint32(raw[headerTID:]),
		Comm:     cString(raw[headerComm : headerComm+commLen]),
	}, nil
}

// DecodeTuple reads a struct sock_tuple from b (at least TupleSize bytes).
func DecodeTuple(b []byte) (Tuple, error) {
	if len(b) < TupleSize {
		return Tuple{}, fmt.Errorf("socket tuple of %d bytes, want %d", len(b), TupleSize)
	}
	le := binary.LittleEndian
	family := le.Uint16(b[tupleFamily:])
	var local, peer netip.Addr
	switch family {
	case afInet:
		local = netip.AddrFrom4([4]byte(b[tupleSaddr : tupleSaddr+4]))
		peer = netip.AddrFrom4([4]byte(b[tupleDaddr : tupleDaddr+4]))
	case afInet6:
		// IPv4-mapped addresses (dual-stack sockets) are reported as IPv4:
		// the packets on the wire are IPv4 and spans name them that way.
		local = netip.AddrFrom16([16]byte(b[tupleSaddr : tupleSaddr+16])).Unmap()
		peer = netip.AddrFrom16([16]byte(b[tupleDaddr : tupleDaddr+16])).Unmap()
	default:
		return Tuple{}, fmt.Errorf("unknown address family %d", family)
	}
	return Tuple{
		Local:      netip.AddrPortFrom(local, le.Uint16(b[tupleSport:])),
		Peer:       netip.AddrPortFrom(peer, le.Uint16(b[tupleDport:])),
		Protocol:   b[tupleProtocol],
		State:      b[tupleState],
		NetnsInode: le.Uint32(b[tupleNetns:]),
	}, nil
}

// Decode appends the log record for raw to dst and returns the event type.
// On error nothing is appended.
func (d *Decoder) Decode(raw []byte, dst plog.LogRecordSlice) (Type, error) {
	h, err := DecodeHeader(raw)
	if err != nil {
		return 0, err
	}
	switch h.Type {
	case TypeTCPRetransmit:
		if len(raw) < TCPRetransmitSize {
			return h.Type, &ErrShort{Type: h.Type, Got: len(raw), Want: TCPRetransmitSize}
		}
		t, err := DecodeTuple(raw[HeaderSize:])
		if err != nil {
			return h.Type, fmt.Errorf("tcp retransmit: %w", err)
		}
		lr := d.newRecord(dst, h, contract.EventTCPRetransmit, plog.SeverityNumberWarn)
		attrs := lr.Attributes()
		putTuple(attrs, t)
		attrs.PutStr(contract.AttrTCPState, TCPStateName(t.State))
		// A retransmit on its own says the segment was lost somewhere; the
		// join decides whether a local drop explains it (DESIGN §5).
		attrs.PutStr(contract.AttrIsolationLayer, contract.LayerNetwork)
		lr.Body().SetStr("tcp retransmit " + t.Local.String() + " -> " + t.Peer.String() + " state " + TCPStateName(t.State))
		return h.Type, nil
	case TypeSchedDelay:
		return h.Type, d.decodeSchedDelay(raw, h, dst)
	case TypeBlockIO:
		return h.Type, d.decodeBlockIO(raw, h, dst)
	case TypeSyscallSlow:
		return h.Type, d.decodeSyscallSlow(raw, h, dst)
	case TypeOOMKill:
		return h.Type, d.decodeOOMKill(raw, h, dst)
	default:
		return h.Type, fmt.Errorf("unknown event type %d", h.Type)
	}
}

// newRecord appends a record stamped with the kernel time and the task.
func (d *Decoder) newRecord(dst plog.LogRecordSlice, h Header, name string, sev plog.SeverityNumber) plog.LogRecord {
	lr := dst.AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(d.Clock.Wall(h.BootNs)))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetEventName(name)
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(sev.String())
	attrs := lr.Attributes()
	attrs.PutStr(contract.AttrEventName, name)
	if h.PID != 0 {
		attrs.PutInt(contract.AttrProcessPID, int64(h.PID))
		attrs.PutInt(contract.AttrThreadID, int64(h.TID))
		if h.Comm != "" {
			attrs.PutStr(contract.AttrProcessExecutable, h.Comm)
		}
	}
	if h.CgroupID > 1 {
		attrs.PutInt(contract.AttrCgroupID, int64(h.CgroupID))
	}
	return lr
}

func putTuple(attrs pcommon.Map, t Tuple) {
	switch t.Protocol {
	case ipprotoTCP:
		attrs.PutStr(contract.AttrNetworkTransport, "tcp")
	case ipprotoUDP:
		attrs.PutStr(contract.AttrNetworkTransport, "udp")
	}
	if t.Local.Addr().Is4() {
		attrs.PutStr(contract.AttrNetworkType, "ipv4")
	} else {
		attrs.PutStr(contract.AttrNetworkType, "ipv6")
	}
	attrs.PutStr(contract.AttrNetworkLocalAddress, t.Local.Addr().String())
	attrs.PutInt(contract.AttrNetworkLocalPort, int64(t.Local.Port()))
	attrs.PutStr(contract.AttrNetworkPeerAddress, t.Peer.Addr().String())
	attrs.PutInt(contract.AttrNetworkPeerPort, int64(t.Peer.Port()))
	if t.NetnsInode != 0 {
		attrs.PutInt(contract.AttrNetnsInode, int64(t.NetnsInode))
	}
}

var tcpStates = [...]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
	11: "CLOSING", 12: "NEW_SYN_RECV",
}

// TCPStateName names a kernel TCP state (include/net/tcp_states.h; the
// numbers are kernel ABI, exported to user space through these tracepoints).
func TCPStateName(s uint8) string {
	if int(s) < len(tcpStates) && tcpStates[s] != "" {
		return tcpStates[s]
	}
	return "STATE_" + strconv.Itoa(int(s))
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
