// Package event decodes the records the BPF programs write to the ring
// buffer (bpf/records.h) into log records that follow the kernel-event
// contract (docs/design.md §3).
package event

import "unsafe"

// Type is the event type tag in every record's header (enum event_type in
// bpf/records.h, generated into records_bpfel.go).
type Type = recordsEventType

const (
	TypeTCPRetransmit  = recordsEventTypeEVENT_TCP_RETRANSMIT
	TypeTCPConnection  = recordsEventTypeEVENT_TCP_CONNECTION
	TypeTCPReset       = recordsEventTypeEVENT_TCP_RESET
	TypeSKBDrop        = recordsEventTypeEVENT_SKB_DROP
	TypeNetTxTimeout   = recordsEventTypeEVENT_NET_TX_TIMEOUT
	TypeSchedDelay     = recordsEventTypeEVENT_SCHED_DELAY
	TypeBlockIO        = recordsEventTypeEVENT_BLOCK_IO
	TypeSyscallSlow    = recordsEventTypeEVENT_SYSCALL_SLOW
	TypeOOMKill        = recordsEventTypeEVENT_OOM_KILL
	TypeTCPEstablished = recordsEventTypeEVENT_TCP_ESTABLISHED
	TypeCPUThrottled   = recordsEventTypeEVENT_CPU_THROTTLED
	// Counted in events_lost only, never written as a record.
	TypeCPUSteal         = recordsEventTypeEVENT_CPU_STEAL
	TypeBlockIOUntracked = recordsEventTypeEVENT_BLOCK_IO_UNTRACKED
)

// Record layout, in bytes: every offset is taken from the Go types bpf2go
// generates from bpf/records.h, so the decoder cannot drift from what the
// programs write. Decoding reads the fields it needs at these offsets
// (little-endian loads), which costs less than copying whole records.
const (
	HeaderSize     = int(unsafe.Sizeof(recordsEventHeader{}))
	headerTs       = int(unsafe.Offsetof(recordsEventHeader{}.TsNs))
	headerCgroupID = int(unsafe.Offsetof(recordsEventHeader{}.CgroupId))
	headerType     = int(unsafe.Offsetof(recordsEventHeader{}.Type))
	headerPID      = int(unsafe.Offsetof(recordsEventHeader{}.Pid))
	headerTID      = int(unsafe.Offsetof(recordsEventHeader{}.Tid))
	headerComm     = int(unsafe.Offsetof(recordsEventHeader{}.Comm))
	commLen        = len(recordsEventHeader{}.Comm)

	TupleSize     = int(unsafe.Sizeof(recordsSockTuple{}))
	tupleSaddr    = int(unsafe.Offsetof(recordsSockTuple{}.Saddr))
	tupleDaddr    = int(unsafe.Offsetof(recordsSockTuple{}.Daddr))
	tupleSport    = int(unsafe.Offsetof(recordsSockTuple{}.Sport))
	tupleDport    = int(unsafe.Offsetof(recordsSockTuple{}.Dport))
	tupleFamily   = int(unsafe.Offsetof(recordsSockTuple{}.Family))
	tupleProtocol = int(unsafe.Offsetof(recordsSockTuple{}.Protocol))
	tupleState    = int(unsafe.Offsetof(recordsSockTuple{}.State))
	tupleNetns    = int(unsafe.Offsetof(recordsSockTuple{}.Netns))

	TCPRetransmitSize = int(unsafe.Sizeof(recordsTcpRetransmitEvent{}))
	tcpRetransmitErr  = int(unsafe.Offsetof(recordsTcpRetransmitEvent{}.Err))
	tcpRetransmitKind = int(unsafe.Offsetof(recordsTcpRetransmitEvent{}.Kind))
	tcpRetransmitWait = int(unsafe.Offsetof(recordsTcpRetransmitEvent{}.WaitNs))
)

// Network-slice records (bpf/tcplife.c, tcpreset.c, skbdrop.c, txtimeout.c).
const (
	TCPConnectionSize    = int(unsafe.Sizeof(recordsTcpConnectionEvent{}))
	tcpConnDuration      = int(unsafe.Offsetof(recordsTcpConnectionEvent{}.DurationNs))
	tcpConnBytesSent     = int(unsafe.Offsetof(recordsTcpConnectionEvent{}.BytesSent))
	tcpConnBytesReceived = int(unsafe.Offsetof(recordsTcpConnectionEvent{}.BytesReceived))
	tcpConnSrtt          = int(unsafe.Offsetof(recordsTcpConnectionEvent{}.SrttUs))
	tcpConnRetrans       = int(unsafe.Offsetof(recordsTcpConnectionEvent{}.TotalRetrans))
	tcpConnOldState      = int(unsafe.Offsetof(recordsTcpConnectionEvent{}.Oldstate))

	TCPEstablishedSize = int(unsafe.Sizeof(recordsTcpEstablishedEvent{}))
	tcpEstablishedSide = int(unsafe.Offsetof(recordsTcpEstablishedEvent{}.Side))

	TCPResetSize   = int(unsafe.Sizeof(recordsTcpResetEvent{}))
	tcpResetReason = int(unsafe.Offsetof(recordsTcpResetEvent{}.Reason))
	tcpResetDir    = int(unsafe.Offsetof(recordsTcpResetEvent{}.Direction))

	SKBDropSize     = int(unsafe.Sizeof(recordsSkbDropEvent{}))
	skbDropReason   = int(unsafe.Offsetof(recordsSkbDropEvent{}.Reason))
	skbDropIfindex  = int(unsafe.Offsetof(recordsSkbDropEvent{}.Ifindex))
	skbDropIfname   = int(unsafe.Offsetof(recordsSkbDropEvent{}.Ifname))
	skbDropDriver   = int(unsafe.Offsetof(recordsSkbDropEvent{}.Driver))
	skbDropLocation = int(unsafe.Offsetof(recordsSkbDropEvent{}.Location))
	ifnameLen       = len(recordsSkbDropEvent{}.Ifname)
	dropDriverLen   = len(recordsSkbDropEvent{}.Driver)

	NetTxTimeoutSize   = int(unsafe.Sizeof(recordsNetTxTimeoutEvent{}))
	txTimeoutDevice    = int(unsafe.Offsetof(recordsNetTxTimeoutEvent{}.Device))
	txTimeoutDriver    = int(unsafe.Offsetof(recordsNetTxTimeoutEvent{}.Driver))
	txTimeoutDriverLen = len(recordsNetTxTimeoutEvent{}.Driver)
	txTimeoutQueue     = int(unsafe.Offsetof(recordsNetTxTimeoutEvent{}.QueueIndex))
)
