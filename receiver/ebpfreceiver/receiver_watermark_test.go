package ebpfreceiver

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// The watermark records keep their promise: no record the receiver sends
// after one is about anything up to it — stamped at or before it, or, for
// a polled sum, with an interval that starts before it. The late sources
// are in play: an accepted socket's owner, claimed by the poll's walk
// (the socket hooks are off) and stamped at the accept, up to a poll interval before it is sent;
// a throttled cgroup's cpu.stat, polled and stamped at its interval's end;
// and CPU steal polled from /proc/stat (when this guest loses any).
func TestWatermarkRecordsComeAfterWhatTheyCover(t *testing.T) {
	testenv.RequireRoot(t, "ip")
	const port = 18094
	link := plainLink(t, "wm", "198.18.134.1/30", "198.18.134.2/30")
	cg := testenv.NewCgroupV1(t, "cpu", "watermark", map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "10000"})
	testenv.StartInCgroup(t, "exec sh -c 'while :; do :; done'", cg)
	sink := new(consumertest.LogsSink)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"tcp_connection", "cpu_steal", "cgroup_throttle"}
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.PollInterval = 300 * time.Millisecond
	cfg.TCPAcceptOwnerHooks = false
	cfg.Filters.Ports = []int{port}
	startReceiver(t, cfg, sink, nil)

	server := net.JoinHostPort("198.18.134.2", "18094")
	startEchoServer(t, link.B, server)
	c := dialFrom(t, link.A, server)
	local, remote := addrPorts(c)
	accepted := oneRecord(t, sink, contract.EventTCPEstablished, remote, local)
	require.Equal(t, contract.EstablishedAccept, str(accepted.Attributes(), contract.AttrTCPEstablishedSide))
	require.Eventually(t, func() bool {
		marks := findRecords(sink, contract.EventWatermark)
		return len(marks) > 0 && marks[len(marks)-1].Timestamp() >= accepted.Timestamp()
	}, 5*time.Second, 20*time.Millisecond, "a watermark past the accept")
	// A few more polls, with a second connection accepted meanwhile.
	c2 := dialFrom(t, link.A, server)
	local2, remote2 := addrPorts(c2)
	oneRecord(t, sink, contract.EventTCPEstablished, remote2, local2)
	time.Sleep(4 * cfg.PollInterval)

	// Every record in the order the receiver handed them over.
	var promised pcommon.Timestamp
	marks, late, sumsAfter := 0, 0, 0
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if lr.EventName() == contract.EventWatermark {
						assert.Greater(t, lr.Timestamp(), promised, "watermarks only move forward")
						assert.LessOrEqual(t, lr.Timestamp(), lr.ObservedTimestamp(), "a watermark promises nothing of the future")
						promised = lr.Timestamp()
						marks++
						continue
					}
					about := lr.Timestamp()
					if v, ok := lr.Attributes().Get(contract.AttrIntervalStart); ok {
						about = pcommon.Timestamp(v.Int()) // a sum: from its interval's start
						if promised > 0 {
							sumsAfter++
						}
					}
					if about <= promised {
						late++
						t.Errorf("%s about %s (stamped %s) sent after the watermark %s", lr.EventName(), about, lr.Timestamp(), promised)
					}
				}
			}
		}
	}
	assert.Zero(t, late)
	assert.GreaterOrEqual(t, marks, 3, "about one per poll")
	assert.Positive(t, sumsAfter, "the throttled cgroup's polled sums came after watermarks")
	t.Logf("%d watermark records, %d polled sums after one, %d steal records", marks, sumsAfter, len(findRecords(sink, contract.EventCPUSteal)))
}
