package event

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The decoder's offsets come from the types generated from bpf/records.h.
// Every probe object was compiled from the same header: each record type
// in its BTF must have the generated type's size and field offsets, so an
// object built from another revision of a record fails here instead of
// decoding garbage.
func TestRecordLayoutsMatchEveryProbeObject(t *testing.T) {
	records := map[string]reflect.Type{
		"event_header":          reflect.TypeFor[recordsEventHeader](),
		"sock_tuple":            reflect.TypeFor[recordsSockTuple](),
		"cg_key":                reflect.TypeFor[recordsCgKey](),
		"sc_peer":               reflect.TypeFor[recordsScPeer](),
		"tcp_retransmit_event":  reflect.TypeFor[recordsTcpRetransmitEvent](),
		"tcp_connection_event":  reflect.TypeFor[recordsTcpConnectionEvent](),
		"tcp_established_event": reflect.TypeFor[recordsTcpEstablishedEvent](),
		"tcp_reset_event":       reflect.TypeFor[recordsTcpResetEvent](),
		"skb_drop_event":        reflect.TypeFor[recordsSkbDropEvent](),
		"net_tx_timeout_event":  reflect.TypeFor[recordsNetTxTimeoutEvent](),
		"sched_delay_event":     reflect.TypeFor[recordsSchedDelayEvent](),
		"cpu_throttled_event":   reflect.TypeFor[recordsCpuThrottledEvent](),
		"block_io_event":        reflect.TypeFor[recordsBlockIoEvent](),
		"syscall_event":         reflect.TypeFor[recordsSyscallEvent](),
		"oom_kill_event":        reflect.TypeFor[recordsOomKillEvent](),
	}
	objects, err := filepath.Glob("../probes/*_bpfel.o")
	require.NoError(t, err)
	require.NotEmpty(t, objects)
	seen := map[string]int{}
	for _, obj := range objects {
		spec, err := ebpf.LoadCollectionSpec(obj)
		require.NoError(t, err, obj)
		for name, goType := range records {
			var s *btf.Struct
			if err := spec.Types.TypeByName(name, &s); err != nil {
				continue // this program writes no such record
			}
			seen[name]++
			assert.Equal(t, goType.Size(), uintptr(s.Size), "%s: size of %s", obj, name)
			var fields []reflect.StructField
			for i := range goType.NumField() {
				if f := goType.Field(i); f.Name != "_" {
					fields = append(fields, f)
				}
			}
			if !assert.Len(t, s.Members, len(fields), "%s: fields of %s", obj, name) {
				continue
			}
			for i, m := range s.Members {
				assert.Equal(t, fields[i].Offset, uintptr(m.Offset.Bytes()), "%s: offset of %s.%s", obj, name, m.Name)
			}
		}
	}
	// Every record is written by some program (the event header by all).
	for name := range records {
		assert.Positive(t, seen[name], "no probe object has %s", name)
	}
}
