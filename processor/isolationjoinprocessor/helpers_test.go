package isolationjoinprocessor

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
)

// t0 is the start of every test span: a fixed instant, never the wall clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is the processor's injectable now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestProcessor returns a processor whose held spans go to sink. It is
// not started: the join runs synchronously unless the test calls hold.
func newTestProcessor(t testing.TB, cfg *Config) (*joinProcessor, *consumertest.TracesSink, *fakeClock) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	p, err := newJoinProcessor(processortest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	clock := &fakeClock{t: t0}
	p.now = clock.Now
	sink := new(consumertest.TracesSink)
	p.setNextTraces(sink)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p, sink, clock
}

// hold makes p hold spans as a started processor does, without the
// release loop: the test drives releases with sweep and the fake clock.
func hold(p *joinProcessor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holding = true
}

type kv = map[string]any

func putAll(m pcommon.Map, attrs kv) {
	for k, v := range attrs {
		switch v := v.(type) {
		case string:
			m.PutStr(k, v)
		case int:
			m.PutInt(k, int64(v))
		case int64:
			m.PutInt(k, v)
		case float64:
			m.PutDouble(k, v)
		case bool:
			m.PutBool(k, v)
		default:
			panic("unsupported attribute type")
		}
	}
}

// kernelEvent is one contract log record at t0+at.
type kernelEvent struct {
	name  string
	at    time.Duration
	attrs kv
	host  string // resource host.name; "" = this node (no host.name)
}

func eventLogs(events ...kernelEvent) plog.Logs {
	ld := plog.NewLogs()
	for _, e := range events {
		rl := ld.ResourceLogs().AppendEmpty()
		if e.host != "" {
			rl.Resource().Attributes().PutStr("host.name", e.host)
		}
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName(e.name)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(e.at)))
		putAll(lr.Attributes(), e.attrs)
	}
	return ld
}

// testSpan is one span from t0 to t0+dur.
type testSpan struct {
	kind     ptrace.SpanKind
	dur      time.Duration
	start    time.Duration
	attrs    kv
	resource kv
}

func spanTraces(spans ...testSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	for i, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		putAll(rs.Resource().Attributes(), s.resource)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName("span")
		sp.SetTraceID(pcommon.TraceID{1, byte(i)})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		sp.SetKind(s.kind)
		dur := s.dur
		if dur == 0 {
			dur = 100 * time.Millisecond
		}
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.start)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.start + dur)))
		putAll(sp.Attributes(), s.attrs)
	}
	return td
}

func allSpans(td ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			for k := 0; k < sss.At(j).Spans().Len(); k++ {
				out = append(out, sss.At(j).Spans().At(k))
			}
		}
	}
	return out
}

func sinkSpans(sink *consumertest.TracesSink) []ptrace.Span {
	var out []ptrace.Span
	for _, td := range sink.AllTraces() {
		out = append(out, allSpans(td)...)
	}
	return out
}

func attr(s ptrace.Span, k string) any {
	v, ok := s.Attributes().Get(k)
	if !ok {
		return nil
	}
	return v.AsRaw()
}

func hostname(t testing.TB) string {
	h, err := os.Hostname()
	require.NoError(t, err)
	return h
}
