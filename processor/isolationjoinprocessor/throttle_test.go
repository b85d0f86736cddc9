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

// TestCgroupThrottleReachesTheSpansOfItsCgroup: kernel.cgroup.throttle
// records carry no pid, only the cgroup path and the interval they sum;
// they reach the spans of processes in that cgroup (v1 cpu controller or
// v2 path), in proportion to the interval's overlap with the span.
func TestCgroupThrottleReachesTheSpansOfItsCgroup(t *testing.T) {
	ms := time.Millisecond
	throttle := func(path string, intervalStart, interval, throttled time.Duration) kernelEvent {
		return kernelEvent{name: contract.EventCgroupThrottle, at: intervalStart + interval, attrs: kv{
			contract.AttrCgroupPath: path, contract.AttrCgroupThrottledNs: int64(throttled),
			contract.AttrCgroupThrottledPeriods: 8, contract.AttrIsolationLayer: contract.LayerL3,
			contract.AttrIntervalStart: t0.Add(intervalStart).UnixNano(), contract.AttrIntervalNs: int64(interval),
		}}
	}
	hybrid := "12:cpu,cpuacct:/chx-e2e-payment\n11:memory:/chx-e2e-payment\n0::/user.slice/session-1.scope\n"
	unified := "0::/chx-e2e-payment\n"
	tests := []struct {
		name        string
		procCgroup  string
		event       kernelEvent
		wantLayer   string
		wantThrottl any
	}{
		{
			name: "v1 cpu controller path, interval covering the span", procCgroup: hybrid,
			// 700ms of 1s throttled; the 100ms span gets 70ms.
			event:     throttle("/chx-e2e-payment", -500*ms, time.Second, 700*ms),
			wantLayer: contract.LayerL3, wantThrottl: 70.0,
		},
		{
			name: "v2 path", procCgroup: unified,
			event:     throttle("/chx-e2e-payment", -500*ms, time.Second, 700*ms),
			wantLayer: contract.LayerL3, wantThrottl: 70.0,
		},
		{
			name: "interval half over the span", procCgroup: hybrid,
			// [50ms, 1050ms]: 50ms of the span, 40ms throttled of it.
			event:     throttle("/chx-e2e-payment", 50*ms, time.Second, 800*ms),
			wantLayer: contract.LayerL3, wantThrottl: 40.0,
		},
		{
			name: "another cgroup's throttling", procCgroup: hybrid,
			event:     throttle("/chx-e2e-neighbour", -500*ms, time.Second, 700*ms),
			wantLayer: contract.LayerApp, wantThrottl: nil,
		},
		{
			name: "an interval that ended before the span", procCgroup: hybrid,
			event:     throttle("/chx-e2e-payment", -1100*ms, time.Second, 700*ms),
			wantLayer: contract.LayerApp, wantThrottl: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "proc", strconv.Itoa(pid))
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte(tt.procCgroup), 0o644))
			p, _, clock := newTestProcessor(t, createDefaultConfig())
			p.resolver = placement.NewResolver(placement.FS{Root: root}, nil, time.Minute, 16, clock.Now)
			_, err := p.processLogs(context.Background(), eventLogs(tt.event))
			require.NoError(t, err)
			span := testSpan{kind: ptrace.SpanKindServer, resource: kv{"process.pid": pid, "host.name": hostname(t)}}
			td, err := p.processTraces(context.Background(), spanTraces(span))
			require.NoError(t, err)
			s := allSpans(td)[0]
			assert.Equal(t, tt.wantLayer, attr(s, contract.AttrIsolationLayer), "%v", attr(s, attrCause))
			if tt.wantThrottl == nil {
				assert.Nil(t, attr(s, attrThrottledMs))
			} else {
				assert.InDelta(t, tt.wantThrottl, attr(s, attrThrottledMs), 1e-6)
			}
		})
	}
}

// TestSpansWaitForTheThrottleInterval: once throttling records are seen,
// a span is held until the interval covering its end can have arrived.
func TestSpansWaitForTheThrottleInterval(t *testing.T) {
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	hold(p)
	_, err := p.processLogs(context.Background(), eventLogs(kernelEvent{name: contract.EventCgroupThrottle, at: 0, attrs: kv{
		contract.AttrCgroupPath: "/x", contract.AttrCgroupThrottledNs: int64(time.Millisecond),
		contract.AttrIntervalStart: t0.Add(-time.Second).UnixNano(), contract.AttrIntervalNs: int64(time.Second),
	}}))
	require.NoError(t, err)
	assert.Equal(t, int64(time.Second), p.idx.IntervalOf(p.hostname))
	// The watermark (t0+300ms) covers end+slack but not the interval.
	_, err = p.processLogs(context.Background(), eventLogs(kernelEvent{name: contract.EventCPUSteal, at: 300 * time.Millisecond, attrs: kv{contract.AttrCPUStealNs: 1}}))
	require.NoError(t, err)
	_, err = p.processTraces(context.Background(), spanTraces(testSpan{kind: ptrace.SpanKindInternal}))
	require.Error(t, err, "held (processorhelper.ErrSkipProcessingData)")
}
