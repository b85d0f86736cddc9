package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The demo's console line for a diagnosis names the slow hop, the layer,
// the cause and the trace's page.
func TestDemoReportLine(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "view", "loss.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	line := reportLine([]byte(strings.ReplaceAll(string(b), "\n", "")))
	for _, want := range []string{"slow hop order → payment (client", "L3", "NETFILTER_DROP", ViewURL + "trace/59b5e6420113c57f0c19de306ee7c781"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if reportLine([]byte("not json")) != "" {
		t.Error("a line that is not a report printed something")
	}
}

// TraceRequests keeps exactly the spans of one trace.
func TestTraceRequestsCutsOneTrace(t *testing.T) {
	reqs, err := TraceRequests(filepath.Join("testdata", "view", "cpu.spans.jsonl"), "f729aa8ceb0646c8827d97f75508439b")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range reqs {
		n += strings.Count(string(r), `"spanId"`)
		if strings.Contains(string(r), `"traceId":"`) && strings.Count(string(r), `"traceId":"f729aa8ceb0646c8827d97f75508439b"`) != strings.Count(string(r), `"traceId":"`) {
			t.Errorf("request carries spans of another trace")
		}
	}
	if n != 5 {
		t.Errorf("%d spans, want the trace's 5", n)
	}
	if reqs, _ := TraceRequests(filepath.Join("testdata", "view", "cpu.spans.jsonl"), "00000000000000000000000000000000"); len(reqs) != 0 {
		t.Errorf("%d requests for an absent trace", len(reqs))
	}
}
