package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

// lossTrace is the shape of the e2e loss scenario's positive trace:
// frontend → order → payment, order's client span slowed by a netfilter
// drop and the retransmit it caused.
func lossTrace(id string) *Trace {
	return &Trace{
		ID: id, Received: t0, Root: "frontend GET /checkout", RootMs: 236.4,
		SlowSpanID: "c1", HopLine: "order → payment", HopService: "order", HopKind: "client", HopSpan: "GET",
		HopMs: 233, HopSelfMs: 229, Layer: "L3", Join: "5tuple",
		Cause:    "L3: netfilter drop NETFILTER_DROP ×1; tcp retransmits 1",
		Evidence: []KV{{"kernel.skb.drops", "1"}, {"kernel.tcp.retransmits", "1"}},
		Remedy:   "packets of this connection are dropped on the node",
		Spans: []Span{
			{ID: "r1", Service: "frontend", Name: "GET /checkout", Kind: "server", Start: at(0), End: at(236.4), Layer: "app"},
			{ID: "f1", ParentID: "r1", Service: "frontend", Name: "GET", Kind: "client", Start: at(1), End: at(235), Layer: "app"},
			{ID: "o1", ParentID: "f1", Service: "order", Name: "GET /order", Kind: "server", Start: at(1.5), End: at(234.5), Layer: "app"},
			{ID: "c1", ParentID: "o1", Service: "order", Name: "GET", Kind: "client", Start: at(2), End: at(234), Layer: "L3",
				Events: []Event{
					{Name: "kernel.skb.drop", Time: at(2.5), Layer: "L3", Details: []KV{{"kernel.skb.drop.reason", "NETFILTER_DROP"}}},
					{Name: "kernel.tcp.retransmit", Time: at(205), Layer: "L3", TimeMs: 202.5},
				}},
			{ID: "p1", ParentID: "c1", Service: "payment", Name: "GET /pay", Kind: "server", Start: at(205.5), End: at(233), Layer: "app"},
		},
	}
}

func TestRingKeepsTheNewestNewestFirst(t *testing.T) {
	r := NewRing(3)
	for i := 1; i <= 5; i++ {
		r.Add(lossTrace(fmt.Sprint(i)))
	}
	var ids []string
	for _, tr := range r.List(Filter{}) {
		ids = append(ids, tr.ID)
	}
	assert.Equal(t, []string{"5", "4", "3"}, ids)
	assert.Nil(t, r.Get("2"), "evicted")
	require.NotNil(t, r.Get("4"))

	again := lossTrace("4")
	again.Layer = "network"
	r.Add(again) // a trace diagnosed again replaces its entry
	assert.Equal(t, 3, r.Len())
	assert.Equal(t, "network", r.Get("4").Layer)
}

func TestRingFilters(t *testing.T) {
	r := NewRing(10)
	a := lossTrace("a")
	b := lossTrace("b")
	b.Layer = "network"
	b.Spans[4].Service = "ledger"
	r.Add(a)
	r.Add(b)
	ids := func(f Filter) (out []string) {
		for _, tr := range r.List(f) {
			out = append(out, tr.ID)
		}
		return out
	}
	assert.Equal(t, []string{"a"}, ids(Filter{Layer: "L3"}))
	assert.Equal(t, []string{"b"}, ids(Filter{Service: "ledger"}))
	assert.Equal(t, []string{"b", "a"}, ids(Filter{Service: "order"}))
	assert.Empty(t, ids(Filter{Service: "ledger", Layer: "L3"}))
	assert.Equal(t, []string{"frontend", "ledger", "order", "payment"}, r.Services())
}

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestPagesOverHTTP(t *testing.T) {
	r := NewRing(10)
	r.Add(lossTrace("4bf92f3577b34da6a3ce929d0e0e4736"))
	other := lossTrace("00f067aa0ba902b7a3ce929d0e0e4736")
	other.Layer, other.Cause = "network", "network: 1 tcp retransmit"
	r.Add(other)
	pages, err := NewPages(r)
	require.NoError(t, err)
	srv := httptest.NewServer(pages.Handler())
	t.Cleanup(srv.Close)

	code, body := get(t, srv, "/")
	require.Equal(t, http.StatusOK, code, body)
	first := strings.Index(body, "00f067aa0ba902b7")
	second := strings.Index(body, "4bf92f3577b34da6")
	assert.True(t, first > 0 && second > first, "newest first")
	assert.Contains(t, body, `href="/trace/4bf92f3577b34da6a3ce929d0e0e4736"`)

	code, body = get(t, srv, "/?layer=L3")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "4bf92f3577b34da6")
	assert.NotContains(t, body, "00f067aa0ba902b7")
	assert.Contains(t, body, `<option value="L3" selected>`)

	code, body = get(t, srv, "/trace/4bf92f3577b34da6a3ce929d0e0e4736")
	require.Equal(t, http.StatusOK, code, body)
	assert.Regexp(t, `<g class="span slow" data-span-id="c1"`, body)
	// The drop and the retransmit are on the L3 lane, which is the verdict's row.
	l3 := laneBody(t, body, "L3")
	assert.Contains(t, l3, `data-kind="kernel.skb.drop"`)
	assert.Contains(t, l3, `data-kind="kernel.tcp.retransmit"`)
	assert.Contains(t, l3, `class="dur"`, "the retransmit's measured wait is a span of time")
	assert.Regexp(t, `class="lane verdict" id="lane-L3"`, body)
	assert.NotContains(t, laneBody(t, body, "network"), `class="ev`)
	assert.Contains(t, body, "packets of this connection are dropped on the node")
	assert.Contains(t, body, "kernel.skb.drop.reason=NETFILTER_DROP")

	code, _ = get(t, srv, "/trace/ffffffffffffffffffffffffffffffff")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestPagesEscapeSpanText(t *testing.T) {
	r := NewRing(1)
	tr := lossTrace("e1")
	tr.Spans[0].Name = `GET /<script>alert(1)</script>`
	tr.Cause = `<img src=x onerror=alert(1)>`
	r.Add(tr)
	pages, err := NewPages(r)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, pages.RenderTrace(&buf, tr))
	assert.NotContains(t, buf.String(), "<script>")
	assert.NotContains(t, buf.String(), "<img")
}

// laneBody returns the markup of one lane of the trace page.
func laneBody(t *testing.T, page, layer string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<g class="lane[^"]*" id="lane-` + regexp.QuoteMeta(layer) + `".*?\n</g>`).FindString(page)
	require.NotEmpty(t, m, "lane %s", layer)
	return m
}

func TestTicksAreRound(t *testing.T) {
	ax := axis{from: 0, to: int64(236 * time.Millisecond)}
	ax.scale = (plotRight - plotLeft) / float64(ax.to-ax.from)
	var labels []string
	for _, tk := range ticks(ax) {
		labels = append(labels, tk.Label)
	}
	assert.Equal(t, []string{"0ms", "50ms", "100ms", "150ms", "200ms"}, labels)
}

// bigTrace has n spans (a chain of hops and fan-out) and m kernel events
// spread over them and over every lane.
func bigTrace(n, m int) *Trace {
	tr := lossTrace("big")
	tr.Spans = tr.Spans[:0]
	kinds := []string{"kernel.tcp.retransmit", "kernel.skb.drop", "kernel.sched.delay", "kernel.cgroup.throttle", "kernel.syscall.slow", "kernel.block.io"}
	for i := 0; i < n; i++ {
		s := Span{ID: fmt.Sprintf("s%03d", i), Service: fmt.Sprintf("svc%d", i%7), Name: "GET /work", Kind: "server",
			Start: at(float64(i)), End: at(float64(i) + 500 - float64(i)), Layer: Layers[i%len(Layers)]}
		if i > 0 {
			s.ParentID = fmt.Sprintf("s%03d", (i-1)/2)
		}
		tr.Spans = append(tr.Spans, s)
	}
	tr.SlowSpanID = "s050"
	for j := 0; j < m; j++ {
		s := &tr.Spans[j%n]
		s.Events = append(s.Events, Event{Name: kinds[j%len(kinds)], Time: at(float64(j%480) + 0.25), Layer: Layers[j%len(Layers)],
			TimeMs: float64(j % 5), Details: []KV{{"network.peer.address", "198.19.2.2"}, {"network.peer.port", "8082"}}})
	}
	return tr
}

func TestBigTraceRendersEveryEvent(t *testing.T) {
	tr := bigTrace(100, 1000)
	pages, err := NewPages(NewRing(1))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, pages.RenderTrace(&buf, tr))
	assert.Equal(t, 1000, strings.Count(buf.String(), `<g class="ev `))
	assert.Equal(t, 100, strings.Count(buf.String(), `<g class="span`))
}

// BenchmarkRenderTrace100Spans1000Events is the target: one trace
// page of 100 spans and 1,000 kernel events in under 50 ms.
func BenchmarkRenderTrace100Spans1000Events(b *testing.B) {
	tr := bigTrace(100, 1000)
	pages, err := NewPages(NewRing(1))
	require.NoError(b, err)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := pages.RenderTrace(&buf, tr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "page_bytes")
}

// BenchmarkJSONTrace100Spans1000Events is the baseline of the render
// benchmark in the same run: encoding the same trace as JSON (what a
// script-driven page would fetch), so the page's cost reads as a ratio.
func BenchmarkJSONTrace100Spans1000Events(b *testing.B) {
	tr := bigTrace(100, 1000)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := json.NewEncoder(&buf).Encode(tr); err != nil {
			b.Fatal(err)
		}
	}
}
