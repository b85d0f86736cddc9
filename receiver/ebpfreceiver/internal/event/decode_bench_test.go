package event

import (
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

// BenchmarkDecode decodes each record type the receiver sees most (the
// host records and a retransmit) into a reused slice: the cost of reading
// the fields and writing the attributes, without the ring buffer and
// without /proc lookups (no Procs; block IO still names its device from
// sysfs).
func BenchmarkDecode(b *testing.B) {
	records := hostRecords()
	retrans := make([]byte, TCPRetransmitSize)
	putHeader(retrans, TypeTCPRetransmit, 1e9, 4242, "curl")
	putTupleBytes(retrans[HeaderSize:], netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.0.2:80"), 4026531840, 1)
	records[TypeTCPRetransmit] = retrans
	d := &Decoder{Clock: fixedClock{time.Unix(0, 0)}}
	for _, typ := range []Type{TypeTCPRetransmit, TypeSchedDelay, TypeBlockIO, TypeSyscallSlow, TypeOOMKill} {
		raw := records[typ]
		b.Run(typeName(typ), func(b *testing.B) {
			dst := plog.NewLogRecordSlice()
			b.ReportAllocs()
			for b.Loop() {
				dst.RemoveIf(func(plog.LogRecord) bool { return true })
				if _, err := d.Decode(raw, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func typeName(t Type) string {
	switch t {
	case TypeTCPRetransmit:
		return "tcp_retransmit"
	case TypeSchedDelay:
		return "sched_delay"
	case TypeBlockIO:
		return "block_io"
	case TypeSyscallSlow:
		return "syscall_slow"
	case TypeOOMKill:
		return "oom_kill"
	}
	return "other"
}
