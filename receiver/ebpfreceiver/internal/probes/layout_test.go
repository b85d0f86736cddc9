package probes

import (
	"testing"
	"unsafe"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
)

// The decoder reads records by byte offset; these tests tie its offsets to
// the Go types bpf2go generates from the C structs, so a change on one side
// fails here rather than decoding garbage.
func TestRecordLayoutsMatchDecoder(t *testing.T) {
	var (
		retrans tcpretransTcpRetransmitEvent
		conn    tcplifeTcpConnectionEvent
		est     tcplifeTcpEstablishedEvent
		reset   tcpresetTcpResetEvent
		drop    skbdropSkbDropEvent
		txto    txtimeoutNetTxTimeoutEvent
	)
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"event_header size", unsafe.Sizeof(tcpretransEventHeader{}), event.HeaderSize},
		{"sock_tuple size", unsafe.Sizeof(tcpretransSockTuple{}), event.TupleSize},
		{"tcp_retransmit_event size", unsafe.Sizeof(retrans), event.TCPRetransmitSize},
		{"tcp_retransmit_event tuple offset", unsafe.Offsetof(retrans.Tuple), event.HeaderSize},
		{"tcp_retransmit_event kind offset", unsafe.Offsetof(retrans.Kind), event.TCPRetransmitKindAt},
		{"tcp_retransmit_event wait offset", unsafe.Offsetof(retrans.WaitNs), event.TCPRetransmitWaitAt},
		{"tcp_connection_event size", unsafe.Sizeof(conn), event.TCPConnectionSize},
		{"tcp_connection_event header size", unsafe.Sizeof(conn.Hdr), event.HeaderSize},
		{"tcp_connection_event tuple offset", unsafe.Offsetof(conn.Tuple), event.HeaderSize},
		{"tcp_connection_event oldstate offset", unsafe.Offsetof(conn.Oldstate), event.TCPConnectionOldStateAt},
		{"tcp_connection_event duration offset", unsafe.Offsetof(conn.DurationNs), event.TCPConnectionDurationAt},
		{"tcp_connection_event srtt offset", unsafe.Offsetof(conn.SrttUs), event.TCPConnectionSrttAt},
		{"tcp_established_event size", unsafe.Sizeof(est), event.TCPEstablishedSize},
		{"tcp_established_event tuple offset", unsafe.Offsetof(est.Tuple), event.HeaderSize},
		{"tcp_established_event side offset", unsafe.Offsetof(est.Side), event.TCPEstablishedSideAt},
		{"tcp_reset_event size", unsafe.Sizeof(reset), event.TCPResetSize},
		{"tcp_reset_event tuple offset", unsafe.Offsetof(reset.Tuple), event.HeaderSize},
		{"tcp_reset_event direction offset", unsafe.Offsetof(reset.Direction), event.TCPResetDirAt},
		{"skb_drop_event size", unsafe.Sizeof(drop), event.SKBDropSize},
		{"skb_drop_event tuple offset", unsafe.Offsetof(drop.Tuple), event.HeaderSize},
		{"skb_drop_event reason offset", unsafe.Offsetof(drop.Reason), event.SKBDropReasonAt},
		{"skb_drop_event ifname offset", unsafe.Offsetof(drop.Ifname), event.SKBDropIfnameAt},
		{"skb_drop_event driver offset", unsafe.Offsetof(drop.Driver), event.SKBDropDriverAt},
		{"skb_drop_event location offset", unsafe.Offsetof(drop.Location), event.SKBDropLocationAt},
		{"net_tx_timeout_event size", unsafe.Sizeof(txto), event.NetTxTimeoutSize},
		{"net_tx_timeout_event driver offset", unsafe.Offsetof(txto.Driver), event.NetTxTimeoutDriverAt},
		{"net_tx_timeout_event queue offset", unsafe.Offsetof(txto.QueueIndex), event.NetTxTimeoutQueueAt},
	}
	var (
		sched   schedSchedDelayEvent
		block   blockioBlockIoEvent
		sc      syscallSyscallEvent
		sctp    syscalltpSyscallEvent
		thr     schedCpuThrottledEvent
		oom     oomOomKillEvent
		hist    schedLog2Hist
		histOut blockioLog2Hist
	)
	tests = append(tests, []struct {
		name      string
		got, want uintptr
	}{
		{"sched_delay_event size", unsafe.Sizeof(sched), event.SchedDelaySize},
		{"sched_delay_event delay offset", unsafe.Offsetof(sched.DelayNs), event.HeaderSize},
		{"cpu_throttled_event size", unsafe.Sizeof(thr), event.CPUThrottledSize},
		{"cpu_throttled_event ns offset", unsafe.Offsetof(thr.ThrottledNs), event.HeaderSize},
		{"cpu_throttled_event cgroup offset", unsafe.Offsetof(thr.Cg), event.HeaderSize + 8},
		{"block_io_event size", unsafe.Sizeof(block), event.BlockIOSize},
		{"block_io_event dev offset", unsafe.Offsetof(block.Dev), event.HeaderSize + 24},
		{"block_io_event error offset", unsafe.Offsetof(block.Error), event.HeaderSize + 36},
		{"syscall_event size", unsafe.Sizeof(sc), event.SyscallSize},
		{"syscall_event nr offset", unsafe.Offsetof(sc.Nr), event.HeaderSize + 32},
		{"syscall_event seccomp offset", unsafe.Offsetof(sc.SeccompMode), event.HeaderSize + 40},
		{"syscall_event peer offset", unsafe.Offsetof(sc.Peer), event.HeaderSize + 48},
		{"syscall_event peer family offset", unsafe.Offsetof(sc.Peer) + unsafe.Offsetof(sc.Peer.Family), event.HeaderSize + 64},
		{"syscall_event peer port offset", unsafe.Offsetof(sc.Peer) + unsafe.Offsetof(sc.Peer.Port), event.HeaderSize + 66},
		{"syscall_event flags offset", unsafe.Offsetof(sc.Flags), event.SyscallFlagsAt},
		{"syscall_event off_cpu offset", unsafe.Offsetof(sc.OffCpuNs), event.SyscallOffCPUAt},
		{"syscall_event window offset", unsafe.Offsetof(sc.WindowStart), event.SyscallWindowAt},
		{"syscall_event local offset", unsafe.Offsetof(sc.Local), event.SyscallLocalAt},
		{"syscall_event peer netns offset", unsafe.Offsetof(sc.Peer) + unsafe.Offsetof(sc.Peer.Netns), event.HeaderSize + 68},
		{"syscall_event same in the fallback", unsafe.Sizeof(sctp), unsafe.Sizeof(sc)},
		{"oom_kill_event size", unsafe.Sizeof(oom), event.OOMKillSize},
		{"oom_kill_event total_vm offset", unsafe.Offsetof(oom.TotalVmPages), event.HeaderSize + 16},
		{"log2_hist slots", unsafe.Sizeof(hist.Slots) / 8, histSlots},
		{"log2_hist same in every object", unsafe.Sizeof(histOut), unsafe.Sizeof(hist)},
	}...)
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: C layout %d, decoder %d", tt.name, tt.got, tt.want)
		}
	}
}
