package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
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
	// Names resolves kernel enum values (drop and reset reasons) to their
	// names; nil reports numbers.
	Names EnumNames
	// Filter, when set, keeps only records whose socket tuple it accepts.
	// Records without a tuple (tx timeouts) always pass.
	Filter func(Tuple) bool
	// Procs, when set, resolves pids and cgroup ids to container identity.
	Procs *procinfo.Cache
}

// EnumNames names kernel enum values, resolved from the kernel's BTF.
type EnumNames interface {
	DropReason(v uint32) string
	ResetReason(v uint32) string
}

// ErrFiltered is returned (with nothing appended) for a record the
// Decoder's Filter rejected.
var ErrFiltered = errors.New("filtered out")

// ErrShort is returned for a record smaller than its type's layout.
type ErrShort struct {
	Type      Type
	Got, Want int
}

func (e *ErrShort) Error() string {
	return fmt.Sprintf("event type %d: record of %d bytes, want %d", e.Type, e.Got, e.Want)
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
		return h.Type, d.decodeRetransmit(raw, h, dst)
	case TypeTCPConnection:
		return h.Type, d.decodeConnection(raw, h, dst)
	case TypeTCPEstablished:
		return h.Type, d.decodeEstablished(raw, h, dst)
	case TypeTCPReset:
		return h.Type, d.decodeReset(raw, h, dst)
	case TypeSKBDrop:
		return h.Type, d.decodeDrop(raw, h, dst)
	case TypeNetTxTimeout:
		return h.Type, d.decodeTxTimeout(raw, h, dst)
	case TypeSchedDelay:
		return h.Type, d.decodeSchedDelay(raw, h, dst)
	case TypeCPUThrottled:
		return h.Type, d.decodeCPUThrottled(raw, h, dst)
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

// tuple reads the record's socket tuple and applies the filter.
func (d *Decoder) tuple(raw []byte, h Header, size int) (Tuple, error) {
	if len(raw) < size {
		return Tuple{}, &ErrShort{Type: h.Type, Got: len(raw), Want: size}
	}
	t, err := DecodeTuple(raw[HeaderSize:])
	if err != nil {
		return Tuple{}, fmt.Errorf("event type %d: %w", h.Type, err)
	}
	if d.Filter != nil && !d.Filter(t) {
		return Tuple{}, ErrFiltered
	}
	return t, nil
}

func (d *Decoder) decodeConnection(raw []byte, h Header, dst plog.LogRecordSlice) error {
	t, err := d.tuple(raw, h, TCPConnectionSize)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	old := raw[tcpConnOldState]
	failed := old == tcpSynSent
	sev := plog.SeverityNumberInfo
	if failed {
		sev = plog.SeverityNumberWarn
	}
	lr := d.newRecord(dst, h, contract.EventTCPConnection, sev)
	attrs := lr.Attributes()
	putTuple(attrs, t)
	attrs.PutStr(contract.AttrConnectionState, TCPStateName(old))
	attrs.PutBool(contract.AttrTCPConnectFailed, failed)
	durNs := le.Uint64(raw[tcpConnDuration:])
	attrs.PutInt(contract.AttrTCPDurationMs, int64(durNs/1e6))
	attrs.PutInt(contract.AttrTCPBytesSent, clampInt(le.Uint64(raw[tcpConnBytesSent:])))
	attrs.PutInt(contract.AttrTCPBytesReceived, clampInt(le.Uint64(raw[tcpConnBytesReceived:])))
	attrs.PutInt(contract.AttrTCPSrttUs, int64(le.Uint32(raw[tcpConnSrtt:])))
	attrs.PutInt(contract.AttrTCPRetransmits, int64(le.Uint32(raw[tcpConnRetrans:])))
	// A closed connection is evidence of nothing by itself; its
	// retransmits point past the node unless a local drop explains them.
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventTCPConnection}))
	if failed {
		lr.Body().SetStr("tcp connect failed " + t.Local.String() + " -> " + t.Peer.String())
	} else {
		lr.Body().SetStr("tcp connection closed " + t.Local.String() + " -> " + t.Peer.String() + " from " + TCPStateName(old))
	}
	return nil
}

func (d *Decoder) decodeReset(raw []byte, h Header, dst plog.LogRecordSlice) error {
	t, err := d.tuple(raw, h, TCPResetSize)
	if err != nil {
		return err
	}
	dir := "sent"
	switch raw[tcpResetDir] {
	case 0:
	case 1:
		dir = "received"
	default:
		return fmt.Errorf("tcp reset: unknown direction %d", raw[tcpResetDir])
	}
	lr := d.newRecord(dst, h, contract.EventTCPReset, plog.SeverityNumberWarn)
	attrs := lr.Attributes()
	putTuple(attrs, t)
	if t.State != 0 {
		attrs.PutStr(contract.AttrConnectionState, TCPStateName(t.State))
	}
	attrs.PutStr(contract.AttrTCPResetDirection, dir)
	if dir == "sent" {
		reason := binary.LittleEndian.Uint32(raw[tcpResetReason:])
		attrs.PutStr(contract.AttrTCPResetReason, d.resetReason(reason))
	}
	// A reset is the peer's (or this side's) deliberate answer, not a
	// layer's fault: the join names the endpoint.
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventTCPReset}))
	lr.Body().SetStr("tcp reset " + dir + " " + t.Local.String() + " -> " + t.Peer.String())
	return nil
}

func (d *Decoder) decodeDrop(raw []byte, h Header, dst plog.LogRecordSlice) error {
	t, err := d.tuple(raw, h, SKBDropSize)
	if err != nil {
		return err
	}
	reason := d.dropReason(binary.LittleEndian.Uint32(raw[skbDropReason:]))
	dev := cString(raw[skbDropIfname : skbDropIfname+ifnameLen])
	driver := cString(raw[skbDropDriver : skbDropDriver+dropDriverLen])
	lr := d.newRecord(dst, h, contract.EventSKBDrop, plog.SeverityNumberWarn)
	attrs := lr.Attributes()
	putTuple(attrs, t)
	attrs.PutStr(contract.AttrSKBDropReason, reason)
	if dev != "" {
		attrs.PutStr(contract.AttrNetworkInterface, dev)
	}
	if driver != "" {
		attrs.PutStr(contract.AttrNetworkInterfaceDriver, driver)
	}
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventSKBDrop, DropReason: reason, InterfaceDriver: driver}))
	lr.Body().SetStr("skb drop " + reason + " on " + dev + " " + t.Local.String() + " <- " + t.Peer.String())
	return nil
}

func (d *Decoder) decodeTxTimeout(raw []byte, h Header, dst plog.LogRecordSlice) error {
	if len(raw) < NetTxTimeoutSize {
		return &ErrShort{Type: h.Type, Got: len(raw), Want: NetTxTimeoutSize}
	}
	dev := cString(raw[txTimeoutDevice : txTimeoutDevice+ifnameLen])
	driver := cString(raw[txTimeoutDriver : txTimeoutDriver+txTimeoutDriverLen])
	queue := int32(binary.LittleEndian.Uint32(raw[txTimeoutQueue:]))
	lr := d.newRecord(dst, h, contract.EventNetTxTimeout, plog.SeverityNumberError)
	attrs := lr.Attributes()
	attrs.PutStr(contract.AttrNetworkInterface, dev)
	attrs.PutStr(contract.AttrNetworkInterfaceDriver, driver)
	attrs.PutInt(contract.AttrNetworkQueueIndex, int64(queue))
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventNetTxTimeout, InterfaceDriver: driver}))
	lr.Body().SetStr(driver + " " + dev + ": transmit queue " + strconv.Itoa(int(queue)) + " timed out")
	return nil
}

func (d *Decoder) dropReason(v uint32) string {
	if d.Names != nil {
		if s := d.Names.DropReason(v); s != "" {
			return s
		}
	}
	return "REASON_" + strconv.FormatUint(uint64(v), 10)
}

func (d *Decoder) resetReason(v uint32) string {
	if d.Names != nil {
		if s := d.Names.ResetReason(v); s != "" {
			return s
		}
	}
	return "REASON_" + strconv.FormatUint(uint64(v), 10)
}

const tcpSynSent = 2

func clampInt(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
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
	if h.PID != 0 {
		attrs.PutInt(contract.AttrProcessPID, int64(h.PID))
		attrs.PutInt(contract.AttrThreadID, int64(h.TID))
		// comm is the task's (thread's) name; process.executable.name,
		// the exe link's basename, is added by the receiver from /proc.
		if h.Comm != "" {
			attrs.PutStr(contract.AttrThreadName, h.Comm)
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

// tcpStates maps the kernel's TCP states (include/net/tcp_states.h; the
// numbers are kernel ABI, exported to user space through these
// tracepoints) to network.connection.state values. NEW_SYN_RECV is the
// request socket of a SYN received but not yet answered by an ACK:
// syn_received, like SYN_RECV.
var tcpStates = [...]string{
	1:  semconv.NetworkConnectionStateEstablished.Value.AsString(),
	2:  semconv.NetworkConnectionStateSynSent.Value.AsString(),
	3:  semconv.NetworkConnectionStateSynReceived.Value.AsString(),
	4:  semconv.NetworkConnectionStateFinWait1.Value.AsString(),
	5:  semconv.NetworkConnectionStateFinWait2.Value.AsString(),
	6:  semconv.NetworkConnectionStateTimeWait.Value.AsString(),
	7:  semconv.NetworkConnectionStateClosed.Value.AsString(),
	8:  semconv.NetworkConnectionStateCloseWait.Value.AsString(),
	9:  semconv.NetworkConnectionStateLastAck.Value.AsString(),
	10: semconv.NetworkConnectionStateListen.Value.AsString(),
	11: semconv.NetworkConnectionStateClosing.Value.AsString(),
	12: semconv.NetworkConnectionStateSynReceived.Value.AsString(),
}

// TCPStateName names a kernel TCP state as a network.connection.state
// value ("state_<n>" for a number the conventions have no name for).
func TCPStateName(s uint8) string {
	if int(s) < len(tcpStates) && tcpStates[s] != "" {
		return tcpStates[s]
	}
	return "state_" + strconv.Itoa(int(s))
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
