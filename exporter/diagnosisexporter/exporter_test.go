package diagnosisexporter

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/exporter/diagnosisexporter/internal/metadata"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

type spanSpec struct {
	service      string
	id, parent   byte
	name         string
	kind         ptrace.SpanKind
	startMs, end float64
	attrs        map[string]any
	events       []string
	errMsg       string
}

func traceID(b byte) pcommon.TraceID { return pcommon.TraceID{b, 1, 2, 3} }

// addSpans appends spans (one resource per span, as services send them) to td.
func addSpans(td ptrace.Traces, tid pcommon.TraceID, specs ...spanSpec) {
	for _, sp := range specs {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", sp.service)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{sp.id})
		if sp.parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{sp.parent})
		}
		s.SetName(sp.name)
		s.SetKind(sp.kind)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(sp.startMs * float64(time.Millisecond)))))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(sp.end * float64(time.Millisecond)))))
		if err := s.Attributes().FromRaw(sp.attrs); err != nil {
			panic(err)
		}
		for i, ev := range sp.events {
			e := s.Events().AppendEmpty()
			e.SetName(ev)
			e.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(sp.startMs+float64(i+1)) * time.Millisecond)))
		}
		if sp.errMsg != "" {
			s.Status().SetCode(ptrace.StatusCodeError)
			s.Status().SetMessage(sp.errMsg)
		}
	}
}

// chain is frontend → order → payment with order's client span to payment
// slow and tagged L3 by the processor.
func chain() []spanSpec {
	return []spanSpec{
		{service: "frontend", id: 1, name: "GET /checkout", kind: ptrace.SpanKindServer, startMs: 0, end: 240, attrs: map[string]any{"isolation.layer": "app"}},
		{service: "frontend", id: 2, parent: 1, name: "GET", kind: ptrace.SpanKindClient, startMs: 1, end: 239, attrs: map[string]any{"server.address": "198.19.1.2", "server.port": int64(8081)}},
		{service: "order", id: 3, parent: 2, name: "GET /order", kind: ptrace.SpanKindServer, startMs: 2, end: 238},
		{service: "order", id: 4, parent: 3, name: "GET", kind: ptrace.SpanKindClient, startMs: 3, end: 236, attrs: map[string]any{
			"server.address": "198.19.2.2", "server.port": int64(8082),
			"isolation.join": "5tuple", "isolation.layer": "L3", "isolation.cause": "netfilter drop NETFILTER_DROP ×1 on 198.19.2.1:40000→198.19.2.2:8082; tcp retransmits 1",
			"kernel.tcp.retransmits": int64(1), "kernel.skb.drops": int64(1),
		}, events: []string{"kernel.skb.drop", "kernel.tcp.retransmit"}},
		{service: "payment", id: 5, parent: 4, name: "GET /pay", kind: ptrace.SpanKindServer, startMs: 230, end: 234, attrs: map[string]any{"isolation.layer": "L3", "isolation.cause": "cgroup cpu throttled 1ms"}},
	}
}

func TestDiagnoseFiveSteps(t *testing.T) {
	td := ptrace.NewTraces()
	addSpans(td, traceID(1), chain()...)
	cfg := createDefaultConfig()
	cfg.SlowThreshold = 100 * time.Millisecond
	var spans []spanRec
	forEachSpan(td, func(service string, s ptrace.Span) { spans = append(spans, copySpan(service, s)) })

	r, ok := diagnose(traceID(1), spans, cfg)
	require.True(t, ok)
	// ① the hop with the most own time: order's client span (233ms − 4ms child).
	assert.Equal(t, "order", r.SlowHop.Service)
	assert.Equal(t, "payment", r.SlowHop.Peer)
	assert.Equal(t, "198.19.2.2:8082", r.SlowHop.PeerAddress)
	assert.Equal(t, "client", r.SlowHop.Kind)
	assert.Equal(t, "order → payment", r.HopLine())
	assert.InDelta(t, 233.0, r.SlowHop.DurationMs, 0.01)
	assert.InDelta(t, 229.0, r.SlowHop.SelfMs, 0.01)
	// ② layer, cause, evidence.
	assert.Equal(t, "L3", r.Layer)
	assert.Equal(t, "5tuple", r.Join)
	assert.Contains(t, r.Cause, "NETFILTER_DROP")
	assert.Equal(t, []Evidence{{"kernel.skb.drops", int64(1)}, {"kernel.tcp.retransmits", int64(1)}}, r.Evidence)
	// ③ the other span with layer evidence; app verdicts are not listed.
	require.Len(t, r.OtherLayers, 1)
	assert.Equal(t, "payment", r.OtherLayers[0].Service)
	// ④ joined kernel events.
	assert.Equal(t, 2, r.KernelEvents.Count)
	assert.Equal(t, map[string]int{"kernel.skb.drop": 1, "kernel.tcp.retransmit": 1}, r.KernelEvents.Kinds)
	assert.Equal(t, t0.Add(4*time.Millisecond), *r.KernelEvents.First)
	assert.Equal(t, t0.Add(5*time.Millisecond), *r.KernelEvents.Last)
	// ⑤ remedy from the table.
	assert.Contains(t, r.Remedy, "netfilter")

	text := r.Text()
	for _, want := range []string{"①  slow hop: order → payment", "②  layer:    L3 (join 5tuple)", "kernel.tcp.retransmits=1", "③  other layers:", "④  kernel events: 2 (kernel.skb.drop×1, kernel.tcp.retransmit×1)", "⑤  remedy:"} {
		assert.Contains(t, text, want)
	}
}

func TestDiagnoseServerHopAndRemedyOverride(t *testing.T) {
	specs := chain()
	specs[3].end = 40
	specs[3].attrs = map[string]any{"server.address": "198.19.2.2", "server.port": int64(8082)}
	specs[3].events = nil
	specs[4].startMs, specs[4].end = 4, 39
	specs[4].attrs = map[string]any{"isolation.layer": "L3", "isolation.join": "process", "isolation.cause": "cgroup cpu throttled 30ms (1 period)", "kernel.cgroup.cpu.throttled_ms": 30.0}
	specs[0].end, specs[1].end, specs[2].end = 42, 41, 40.5
	var spans []spanRec
	td := ptrace.NewTraces()
	addSpans(td, traceID(2), specs...)
	forEachSpan(td, func(service string, s ptrace.Span) { spans = append(spans, copySpan(service, s)) })
	cfg := createDefaultConfig()
	cfg.SlowThreshold = 20 * time.Millisecond
	cfg.Remedies = []RemedyRule{{Layer: "L3", Match: "THROTTLED", Hint: "page the payments team"}}
	r, ok := diagnose(traceID(2), spans, cfg)
	require.True(t, ok)
	assert.Equal(t, "payment", r.SlowHop.Service)
	assert.Equal(t, "server", r.SlowHop.Kind)
	assert.Equal(t, "order → payment", r.HopLine())
	assert.Equal(t, "L3", r.Layer)
	assert.Equal(t, "page the payments team", r.Remedy)
	cfg.Remedies = nil
	r, _ = diagnose(traceID(2), spans, cfg)
	assert.Contains(t, r.Remedy, "CPU quota")
}

func TestDiagnoseSkipsFastTracesAndReportsErrors(t *testing.T) {
	specs := chain()[2:3]
	specs[0].parent = 0
	specs[0].end = 5
	var spans []spanRec
	td := ptrace.NewTraces()
	addSpans(td, traceID(3), specs...)
	forEachSpan(td, func(service string, s ptrace.Span) { spans = append(spans, copySpan(service, s)) })
	cfg := createDefaultConfig()
	_, ok := diagnose(traceID(3), spans, cfg)
	assert.False(t, ok, "a fast trace without errors has no report")

	spans[0].statusErr, spans[0].statusMsg = true, "connection reset"
	r, ok := diagnose(traceID(3), spans, cfg)
	require.True(t, ok)
	assert.Equal(t, "connection reset", r.SlowHop.Error)
	assert.Equal(t, "unknown", r.Layer)
	assert.Contains(t, r.Remedy, "not joined")
	cfg.IncludeErrors = false
	_, ok = diagnose(traceID(3), spans, cfg)
	assert.False(t, ok)
}

func forEachSpan(td ptrace.Traces, fn func(string, ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		svc, _ := rs.Resource().Attributes().Get("service.name")
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			for k := 0; k < rs.ScopeSpans().At(j).Spans().Len(); k++ {
				fn(svc.Str(), rs.ScopeSpans().At(j).Spans().At(k))
			}
		}
	}
}

func readJSON(t *testing.T, path string) []Report {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []Report
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r Report
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		out = append(out, r)
	}
	return out
}

// fakeClock lets the tests move time for trace_wait.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestExporterWaitsForLaterBatchesOneReportPerTrace(t *testing.T) {
	dir := t.TempDir()
	cfg := createDefaultConfig()
	cfg.SlowThreshold = 100 * time.Millisecond
	cfg.TraceWait = time.Hour // the test moves the clock itself
	cfg.TextPath = filepath.Join(dir, "diagnosis.txt")
	cfg.JSONPath = filepath.Join(dir, "diagnosis.jsonl")
	e := newDiagnosisExporter(cfg, componenttest.NewNopTelemetrySettings().Logger)
	clk := &fakeClock{now: t0}
	e.now = clk.Now
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))

	// payment's batch first, then order's, then frontend's: one trace.
	specs := chain()
	for _, batch := range [][]spanSpec{specs[4:], specs[2:4], specs[:2]} {
		td := ptrace.NewTraces()
		addSpans(td, traceID(7), batch...)
		require.NoError(t, e.consumeTraces(context.Background(), td))
		clk.Add(10 * time.Minute)
	}
	// A fast trace: no report.
	td := ptrace.NewTraces()
	addSpans(td, traceID(8), spanSpec{service: "frontend", id: 1, name: "GET /", kind: ptrace.SpanKindServer, end: 3})
	require.NoError(t, e.consumeTraces(context.Background(), td))

	e.flush(false)
	assert.Empty(t, readJSON(t, cfg.JSONPath), "the trace's wait is not over")
	clk.Add(31 * time.Minute) // first batch is now 61 minutes old
	e.flush(false)
	reports := readJSON(t, cfg.JSONPath)
	require.Len(t, reports, 1)
	assert.Equal(t, traceID(7).String(), reports[0].TraceID)
	assert.Equal(t, 5, reports[0].Spans, "all three batches are in the report")
	assert.Equal(t, "order → payment", (&reports[0]).HopLine())
	assert.Equal(t, "L3", reports[0].Layer)

	require.NoError(t, e.shutdown(context.Background()))
	assert.Len(t, readJSON(t, cfg.JSONPath), 1, "the fast trace has no report")
	text, err := os.ReadFile(cfg.TextPath)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(text), "── diagnosis · trace "+traceID(7).String()))
	assert.Contains(t, string(text), "①  slow hop: order → payment")
}

func TestExporterBoundsAndShutdownFlush(t *testing.T) {
	dir := t.TempDir()
	cfg := createDefaultConfig()
	cfg.SlowThreshold = 100 * time.Millisecond
	cfg.TraceWait = time.Hour
	cfg.MaxTraces = 2
	cfg.MaxSpansPerTrace = 3
	cfg.TextPath = ""
	cfg.JSONPath = filepath.Join(dir, "d.jsonl")
	f := NewFactory()
	set := exportertest.NewNopSettings(metadata.Type)
	exp, err := f.CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	for i := byte(1); i <= 3; i++ {
		td := ptrace.NewTraces()
		addSpans(td, traceID(i), chain()...)
		require.NoError(t, exp.ConsumeTraces(context.Background(), td))
	}
	// Over max_traces the oldest trace is reported early, with its capped spans.
	reports := readJSON(t, cfg.JSONPath)
	require.Len(t, reports, 1)
	assert.Equal(t, traceID(1).String(), reports[0].TraceID)
	assert.Equal(t, 3, reports[0].Spans)
	assert.Equal(t, 2, reports[0].SpansDropped)
	// Shutdown reports the rest.
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Len(t, readJSON(t, cfg.JSONPath), 3)
}

func TestExporterTraceWaitElapses(t *testing.T) {
	dir := t.TempDir()
	cfg := createDefaultConfig()
	cfg.SlowThreshold = 100 * time.Millisecond
	cfg.TraceWait = 50 * time.Millisecond
	cfg.TextPath = ""
	cfg.JSONPath = filepath.Join(dir, "d.jsonl")
	e := newDiagnosisExporter(cfg, componenttest.NewNopTelemetrySettings().Logger)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	td := ptrace.NewTraces()
	addSpans(td, traceID(9), chain()...)
	require.NoError(t, e.consumeTraces(context.Background(), td))
	require.Eventually(t, func() bool { return len(readJSON(t, cfg.JSONPath)) == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestStartFailsOnUnwritablePath(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.JSONPath = filepath.Join(t.TempDir(), "missing", "dir", "d.jsonl")
	e := newDiagnosisExporter(cfg, componenttest.NewNopTelemetrySettings().Logger)
	err := e.start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "json_path:")
	require.NoError(t, e.shutdown(context.Background()))
}

func TestTriggerNamesTheLongestSpan(t *testing.T) {
	td := ptrace.NewTraces()
	addSpans(td, traceID(4), chain()...)
	var spans []spanRec
	forEachSpan(td, func(service string, s ptrace.Span) { spans = append(spans, copySpan(service, s)) })
	cfg := createDefaultConfig()
	cfg.SlowThreshold = 100 * time.Millisecond
	r, ok := diagnose(traceID(4), spans, cfg)
	require.True(t, ok)
	assert.Equal(t, `server span "GET /checkout" of frontend took 240ms > slow_threshold 100ms`, r.Trigger)
	assert.Equal(t, "frontend GET /checkout", r.Root)
	assert.InDelta(t, 240.0, r.RootMs, 0.01)
}
