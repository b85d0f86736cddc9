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
	var retrans tcpretransTcpRetransmitEvent
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"event_header size", unsafe.Sizeof(tcpretransEventHeader{}), event.HeaderSize},
		{"sock_tuple size", unsafe.Sizeof(tcpretransSockTuple{}), event.TupleSize},
		{"tcp_retransmit_event size", unsafe.Sizeof(retrans), event.TCPRetransmitSize},
		{"tcp_retransmit_event tuple offset", unsafe.Offsetof(retrans.Tuple), event.HeaderSize},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: C layout %d, decoder %d", tt.name, tt.got, tt.want)
		}
	}
}
