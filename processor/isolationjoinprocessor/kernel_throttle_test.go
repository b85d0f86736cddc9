package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"
)

// TestKernelThrottlingChargesOnlyTheThrottledProcess: two processes in one
// CFS-throttled cgroup, one spinning, one asleep. The real receiver sees
// the spinner's threads sit throttled at sched_switch; over the same
// second the spinner's span gets throttled time and the sleeper's none,
// although the cgroup's cpu.stat shows throttling throughout.
func TestKernelThrottlingChargesOnlyTheThrottledProcess(t *testing.T) {
	testenv.RequireRoot(t)
	cg := testenv.NewCgroupV1(t, "cpu", "chx-jthrottle", map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "20000"})

	tp, lp, traces := startJoinWith(t, processortest.NewNopSettings(metadata.Type), 3*time.Second)

	rf := ebpfreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig().(*ebpfreceiver.Config)
	rcfg.Probes = []string{"sched_delay", "cgroup_throttle"}
	rcfg.FlushInterval = 20 * time.Millisecond
	rcfg.PollInterval = 200 * time.Millisecond
	recv, err := rf.CreateLogs(context.Background(), receivertest.NewNopSettings(rf.Type()), rcfg, lp)
	require.NoError(t, err)
	if err := recv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		testenv.SkipOrFail(t, "ebpf receiver: %v", err)
	}
	t.Cleanup(func() { _ = recv.Shutdown(context.Background()) })

	spinner := testenv.StartInCgroup(t, "exec sh -c 'while :; do :; done'", cg)
	sleeper := testenv.StartInCgroup(t, "exec sleep 60", cg)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	time.Sleep(time.Second)
	end := time.Now()

	td := ptrace.NewTraces()
	for i, pid := range []int{spinner.Process.Pid, sleeper.Process.Pid} {
		rs := td.ResourceSpans().AppendEmpty()
		// The Node/Java SDK resource shape: process.pid is there.
		rs.Resource().Attributes().PutInt("process.pid", int64(pid))
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName("work")
		sp.SetKind(ptrace.SpanKindInternal)
		sp.SetTraceID(pcommon.TraceID{0x7e, byte(i)})
		sp.SetSpanID(pcommon.SpanID{0x7e, byte(i + 1)})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	}
	require.NoError(t, tp.ConsumeTraces(context.Background(), td))
	require.Eventually(t, func() bool { return traces.SpanCount() == 2 }, 30*time.Second, 10*time.Millisecond)

	var spin, sleep ptrace.Span
	for _, s := range sinkSpans(traces) {
		if s.TraceID()[1] == 0 {
			spin = s
		} else {
			sleep = s
		}
	}
	ms, _ := attr(spin, attrThrottledMs).(float64)
	// Throttled ~80% of each period over one second.
	assert.Greater(t, ms, 300.0, "the spinner's span: %v", attr(spin, attrCause))
	assert.Equal(t, contract.LayerL3, attr(spin, contract.AttrIsolationLayer), "%v", attr(spin, attrCause))
	assert.Nil(t, attr(sleep, attrThrottledMs), "the sleeper's span: %v", attr(sleep, attrCause))
	assert.Equal(t, contract.LayerApp, attr(sleep, contract.AttrIsolationLayer), "%v", attr(sleep, attrCause))
	t.Logf("spinner: %v; sleeper: %v", attr(spin, attrCause), attr(sleep, attrCause))
}
