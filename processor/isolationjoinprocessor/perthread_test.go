package isolationjoinprocessor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/placement"
)

// Records of a node whose receiver measures steal and throttling per
// thread (issue 13): the node- and cgroup-wide sums are marked
// kernel.per_thread_evidence and the per-process records carry the pid.
const (
	spinner = 4101 // a process whose threads ran (and lost CPU)
	sleeper = 4102 // a process whose threads slept through the same time
)

func procFixture(t *testing.T, cgroup string, pids ...int) string {
	root := t.TempDir()
	for _, pid := range pids {
		dir := filepath.Join(root, "proc", strconv.Itoa(pid))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cgroup), 0o644))
	}
	return root
}

// joinSpans runs events into a processor and returns the spans of one
// batch, one per resource.
func joinSpans(t *testing.T, root string, events []kernelEvent, spans ...testSpan) []ptrace.Span {
	p, _, clock := newTestProcessor(t, createDefaultConfig())
	p.resolver = placement.NewResolver(placement.FS{Root: root}, nil, time.Minute, 16, clock.Now)
	_, err := p.processLogs(context.Background(), eventLogs(events...))
	require.NoError(t, err)
	td, err := p.processTraces(context.Background(), spanTraces(spans...))
	require.NoError(t, err)
	return allSpans(td)
}

func TestStealChargesOnlyTheProcessThatLostIt(t *testing.T) {
	ms := time.Millisecond
	interval := kv{contract.AttrIntervalStart: t0.Add(-500 * ms).UnixNano(), contract.AttrIntervalNs: int64(time.Second)}
	with := func(base kv, more kv) kv {
		out := kv{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	// /proc/stat: cpu0 lost 600ms of the second around the spans…
	node := kernelEvent{name: contract.EventCPUSteal, at: 500 * ms, attrs: with(interval, kv{
		contract.AttrCPU: 0, contract.AttrCPUStealNs: int64(600 * ms), contract.AttrIsolationLayer: contract.LayerL1,
		contract.AttrPerThreadEvidence: true,
	})}
	// …all of it while the spinner ran; the sleeper lost none.
	proc := kernelEvent{name: contract.EventCPUSteal, at: 500 * ms, attrs: with(interval, kv{
		contract.AttrProcessPID: spinner, contract.AttrCPUStealNs: int64(600 * ms), contract.AttrIsolationLayer: contract.LayerL1,
	})}
	root := procFixture(t, "0::/\n", spinner, sleeper)
	host := hostname(t)
	spans := joinSpans(t, root, []kernelEvent{node, proc},
		testSpan{kind: ptrace.SpanKindServer, resource: kv{"process.pid": spinner, "host.name": host}},
		testSpan{kind: ptrace.SpanKindServer, resource: kv{"process.pid": sleeper, "host.name": host}},
		testSpan{kind: ptrace.SpanKindServer, resource: kv{"host.name": host}},
	)
	require.Len(t, spans, 3)
	// 600ms over 1s, prorated to the 100ms span: 60ms.
	assert.Equal(t, contract.LayerL1, attr(spans[0], contract.AttrIsolationLayer), "%v", attr(spans[0], attrCause))
	assert.Contains(t, attr(spans[0], attrCause), "cpu steal 60ms")
	// The sleeping process's span: the node's steal is not its.
	assert.Equal(t, contract.LayerApp, attr(spans[1], contract.AttrIsolationLayer), "%v", attr(spans[1], attrCause))
	assert.NotContains(t, attr(spans[1], attrCause), "steal")
	// A span whose process is unknown: node-wide steal is all there is.
	assert.Equal(t, "node", attr(spans[2], attrJoin))
	assert.Equal(t, contract.LayerL1, attr(spans[2], contract.AttrIsolationLayer), "%v", attr(spans[2], attrCause))

	// A node without per-thread steal (no marker): its steal still
	// reaches every span of the node.
	delete(node.attrs, contract.AttrPerThreadEvidence)
	spans = joinSpans(t, root, []kernelEvent{node},
		testSpan{kind: ptrace.SpanKindServer, resource: kv{"process.pid": sleeper, "host.name": host}})
	assert.Equal(t, contract.LayerL1, attr(spans[0], contract.AttrIsolationLayer), "%v", attr(spans[0], attrCause))
}

func TestThrottlingChargesTheThreadsThatWereThrottled(t *testing.T) {
	ms := time.Millisecond
	const cg = "/chx-throttled"
	// cpu.stat: the cgroup was throttled 800ms of the second (marked: the
	// node also reports per thread).
	cgroupWide := kernelEvent{name: contract.EventCgroupThrottle, at: 500 * ms, attrs: kv{
		contract.AttrCgroupPath: cg, contract.AttrCgroupThrottledNs: int64(800 * ms), contract.AttrCgroupThrottledPeriods: 9,
		contract.AttrIntervalStart: t0.Add(-500 * ms).UnixNano(), contract.AttrIntervalNs: int64(time.Second),
		contract.AttrIsolationLayer: contract.LayerL3, contract.AttrPerThreadEvidence: true,
	}}
	// The spinner's thread sat throttled from 10ms to 90ms into the span.
	thread := kernelEvent{name: contract.EventCgroupThrottle, at: 90 * ms, attrs: kv{
		contract.AttrProcessPID: spinner, contract.AttrThreadID: spinner + 1, contract.AttrCgroupPath: cg,
		contract.AttrCgroupThrottledNs: int64(80 * ms), contract.AttrIsolationLayer: contract.LayerL3,
	}}
	root := procFixture(t, "0::"+cg+"\n", spinner, sleeper)
	host := hostname(t)
	spans := joinSpans(t, root, []kernelEvent{cgroupWide, thread},
		testSpan{kind: ptrace.SpanKindServer, resource: kv{"process.pid": spinner, "host.name": host}},
		testSpan{kind: ptrace.SpanKindServer, resource: kv{"process.pid": sleeper, "host.name": host}},
	)
	require.Len(t, spans, 2)
	assert.Equal(t, contract.LayerL3, attr(spans[0], contract.AttrIsolationLayer), "%v", attr(spans[0], attrCause))
	assert.InDelta(t, 80.0, attr(spans[0], attrThrottledMs), 1e-6, "measured, not prorated")
	assert.Equal(t, contract.LayerApp, attr(spans[1], contract.AttrIsolationLayer), "%v", attr(spans[1], attrCause))
	assert.Nil(t, attr(spans[1], attrThrottledMs), "the sleeping process was not throttled")
}
