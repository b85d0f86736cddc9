package isolationjoinprocessor

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Issue 14 row 1: a logs batch with one kernel event among many other
// records does not pin memory in proportion to the whole batch.
func TestMixedBatchDoesNotPinItsSize(t *testing.T) {
	p, _, clock := newTestProcessor(t, createDefaultConfig())
	clock.Advance(time.Minute)
	ld := eventLogs(steal(time.Second, ""))
	other := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for range 50_000 {
		lr := other.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		lr.Body().SetStr("an application log line")
	}
	before := heapInUse()
	for range 20 {
		_, err := p.processLogs(context.Background(), ld)
		require.NoError(t, err)
	}
	grown := int64(heapInUse()) - int64(before)
	require.Equal(t, 20, p.idx.Len())
	// 20 events are a few KiB; the batch-sized arrays were ~10 MiB each.
	assert.Less(t, grown, int64(8<<20), "heap grew %d MiB for 20 indexed events", grown>>20)
	runtime.KeepAlive(ld)
}

// Issue 14 row 8: a span without a start time joins the events around its
// end, not the whole index.
func TestSpanWithoutStartTimeJoinsAroundItsEnd(t *testing.T) {
	p, _, clock := newTestProcessor(t, createDefaultConfig())
	clock.Advance(time.Minute)
	old := kernelEvent{name: contract.EventSchedDelay, at: -20 * time.Second, attrs: kv{contract.AttrProcessPID: pid, contract.AttrSchedDelayNs: int64(50 * time.Millisecond)}}
	near := kernelEvent{name: contract.EventCPUSteal, at: 50 * time.Millisecond, attrs: kv{contract.AttrCPUStealNs: 1}}
	_, err := p.processLogs(context.Background(), eventLogs(old, near, steal(time.Second, "")))
	require.NoError(t, err)
	td := spanTraces(testSpan{kind: ptrace.SpanKindInternal, resource: kv{"process.pid": pid}})
	s := allSpans(td)[0]
	s.SetStartTimestamp(0)
	_, err = p.processTraces(context.Background(), td)
	require.NoError(t, err)
	assert.Nil(t, attr(s, attrSchedDelayMs), "an event 20s before the span's end joined a span without start time")
}

// Issue 14 row 13: a span joined twice (node agent, then gateway) does not
// carry the same kernel event twice.
func TestJoinedTwiceNoDuplicateSpanEvents(t *testing.T) {
	events := eventLogs(retransmit(50*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil), steal(time.Second, ""))
	agent, _, ac := newTestProcessor(t, createDefaultConfig())
	gateway, _, gc := newTestProcessor(t, createDefaultConfig())
	ac.Advance(time.Minute)
	gc.Advance(time.Minute)
	for _, p := range []*joinProcessor{agent, gateway} {
		ld := plog.NewLogs()
		events.CopyTo(ld)
		_, err := p.processLogs(context.Background(), ld)
		require.NoError(t, err)
	}
	td, err := agent.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.NoError(t, err)
	require.Equal(t, 1, allSpans(td)[0].Events().Len())
	td, err = gateway.processTraces(context.Background(), td)
	require.NoError(t, err)
	s := allSpans(td)[0]
	assert.Equal(t, 1, s.Events().Len(), "the retransmit twice on one span")
	assert.Equal(t, int64(1), attr(s, attrRetransmits))
}

// Issue 14 row 5: a kernel log line that names neither a device nor a
// process (a line a user could have shaped) is not node-wide evidence;
// one naming a device is.
func TestKernelLogNodeWideOnlyWithADevice(t *testing.T) {
	for _, tc := range []struct {
		device    string
		wantLayer string
	}{{"", contract.LayerApp}, {"vda", contract.LayerL0}} {
		t.Run("device="+tc.device, func(t *testing.T) {
			p, _, clock := newTestProcessor(t, createDefaultConfig())
			clock.Advance(time.Minute)
			attrs := kv{contract.AttrIsolationLayer: contract.LayerL0, contract.AttrLogKeyword: "EPT violation"}
			if tc.device != "" {
				attrs[contract.AttrLogDevice] = tc.device
			}
			_, err := p.processLogs(context.Background(), eventLogs(
				kernelEvent{name: contract.EventKernelLog, at: 200 * time.Millisecond, attrs: attrs},
				steal(2*time.Second, ""),
			))
			require.NoError(t, err)
			span := testSpan{kind: ptrace.SpanKindServer, dur: 500 * time.Millisecond, resource: kv{"process.pid": pid}}
			td, err := p.processTraces(context.Background(), spanTraces(span))
			require.NoError(t, err)
			assert.Equal(t, tc.wantLayer, attr(allSpans(td)[0], contract.AttrIsolationLayer))
		})
	}
}
