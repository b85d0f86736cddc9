// Package event decodes the records the BPF programs write to the ring
// buffer (layouts in bpf/common.h and each probe's C file) into log records
// that follow the kernel-event contract (docs/design.md §3).
package event

// Type is the event type tag in every record's header (enum event_type in
// bpf/common.h).
type Type uint32

const (
	TypeTCPRetransmit Type = 1
	TypeTCPConnection Type = 2
	TypeTCPReset      Type = 3
	TypeSKBDrop       Type = 4
	TypeNetTxTimeout  Type = 5
	TypeSchedDelay    Type = 6
	TypeBlockIO       Type = 7
	TypeSyscallSlow   Type = 8
	TypeOOMKill       Type = 9
	TypeCPUThrottled  Type = 11
	// 10: kernel.tcp.established (bpf/tcplife.c, bpf/tcpsnapshot.c);
	// 11-13 are reserved for issue 13's probes.
	TypeTCPEstablished Type = 10
)

// Record layout, in bytes. The probes package checks these against the Go
// types bpf2go generates from the C structs, so a change on one side without
// the other fails a test instead of decoding garbage.
const (
	HeaderSize     = 48
	headerTs       = 0
	headerCgroupID = 8
	headerType     = 16
	headerPID      = 20
	headerTID      = 24
	headerComm     = 32
	commLen        = 16

	TupleSize     = 48
	tupleSaddr    = 0
	tupleDaddr    = 16
	tupleSport    = 32
	tupleDport    = 34
	tupleFamily   = 36
	tupleProtocol = 38
	tupleState    = 39
	tupleNetns    = 40

	TCPRetransmitSize   = HeaderSize + TupleSize + 16
	tcpRetransmitErr    = HeaderSize + TupleSize
	tcpRetransmitKind   = tcpRetransmitErr + 4
	tcpRetransmitWait   = tcpRetransmitErr + 8
	TCPRetransmitKindAt = tcpRetransmitKind
	TCPRetransmitWaitAt = tcpRetransmitWait
)

// Network-slice records (bpf/tcplife.c, tcpreset.c, skbdrop.c, txtimeout.c).
const (
	TCPConnectionSize       = HeaderSize + TupleSize + 40
	tcpConnDuration         = HeaderSize + TupleSize
	tcpConnBytesSent        = tcpConnDuration + 8
	tcpConnBytesReceived    = tcpConnDuration + 16
	tcpConnSrtt             = tcpConnDuration + 24
	tcpConnRetrans          = tcpConnDuration + 28
	tcpConnOldState         = tcpConnDuration + 32
	TCPConnectionOldStateAt = tcpConnOldState
	TCPConnectionDurationAt = tcpConnDuration
	TCPConnectionSrttAt     = tcpConnSrtt

	TCPEstablishedSize   = HeaderSize + TupleSize + 8
	tcpEstablishedSide   = HeaderSize + TupleSize
	TCPEstablishedSideAt = tcpEstablishedSide

	TCPResetSize   = HeaderSize + TupleSize + 8
	tcpResetReason = HeaderSize + TupleSize
	tcpResetDir    = tcpResetReason + 4
	TCPResetDirAt  = tcpResetDir

	SKBDropSize       = HeaderSize + TupleSize + 48
	skbDropReason     = HeaderSize + TupleSize
	skbDropIfindex    = skbDropReason + 4
	skbDropIfname     = skbDropReason + 8
	skbDropDriver     = skbDropReason + 24
	skbDropLocation   = skbDropReason + 40
	SKBDropDriverAt   = skbDropDriver
	SKBDropReasonAt   = skbDropReason
	SKBDropIfnameAt   = skbDropIfname
	SKBDropLocationAt = skbDropLocation
	ifnameLen         = 16
	dropDriverLen     = 16

	NetTxTimeoutSize     = HeaderSize + 56
	txTimeoutDevice      = HeaderSize
	txTimeoutDriver      = HeaderSize + 16
	txTimeoutDriverLen   = 32
	txTimeoutQueue       = HeaderSize + 48
	NetTxTimeoutQueueAt  = txTimeoutQueue
	NetTxTimeoutDriverAt = txTimeoutDriver
)
