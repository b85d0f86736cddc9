package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// requireView skips (or, under CROSSHAIR_REQUIRE_BPF=1 as in CI, fails)
// unless the built collector and Chromium are here.
func requireView(t *testing.T) (collector string, c *Chromium) {
	t.Helper()
	skip := func(msg string) {
		if os.Getenv("CROSSHAIR_REQUIRE_BPF") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root, _ := filepath.Abs("..")
	collector = filepath.Join(root, "_build", "otelcol-crosshair")
	if _, err := os.Stat(collector); err != nil {
		skip("needs the built collector (make build): " + err.Error())
	}
	c, err := FindChromium()
	if err != nil {
		skip(err.Error())
	}
	return collector, c
}

// capturedTrace is one diagnosed trace captured from a `make e2e` run
// (testdata/view/<scenario>.*): the OTLP/JSON export requests of its spans,
// as the collector's file exporter wrote them after isolation_join tagged
// them (the verdicts and kernel span events of a real fault: nftables drops
// on the order↔payment veth, payment's CPU quota), and the diagnosis report
// of the same run. Attributes stock instrumentation does not emit, which
// the demo services then added by hand (resource process.pid, host.name and
// process.executable.name, network.local.*, client spans' network.peer.*),
// were removed from the capture.
type capturedTrace struct {
	scenario string
	layer    string   // the lane the evidence must be on
	kinds    []string // kernel events of the fault expected on that lane
}

// TestViewInBrowser starts the built collector with the view on, sends it
// traces captured from the e2e's faults over OTLP/HTTP, and checks the
// pages as Chromium renders them: the list links each trace newest first
// and filters by layer and service, and each trace's page highlights the
// slow hop the diagnosis named and draws the fault's kernel events on the
// expected layer's lane. Screenshots go to _out/view-test-<scenario>.png.
func TestViewInBrowser(t *testing.T) {
	collector, chromium := requireView(t)
	out := filepath.Join("_out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv, err := StartViewServer(ctx, collector, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	traces := []capturedTrace{
		{scenario: "loss", layer: "L3", kinds: []string{"kernel.tcp.retransmit", "kernel.skb.drop"}},
		{scenario: "cpu", layer: "L3", kinds: []string{"kernel.cgroup.throttle"}},
	}
	var ids []string
	for _, tc := range traces {
		var rep struct {
			TraceID string `json:"trace_id"`
			Layer   string `json:"layer"`
			SlowHop struct {
				SpanID  string `json:"span_id"`
				Service string `json:"service"`
			} `json:"slow_hop"`
		}
		b, err := os.ReadFile(filepath.Join("testdata", "view", tc.scenario+".report.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		reqs, err := TraceRequests(filepath.Join("testdata", "view", tc.scenario+".spans.jsonl"), rep.TraceID)
		if err != nil || len(reqs) == 0 {
			t.Fatalf("%s: captured spans of trace %s: %v (%d requests)", tc.scenario, rep.TraceID, err, len(reqs))
		}
		if err := srv.Replay(reqs); err != nil {
			t.Fatal(err)
		}
		if err := srv.WaitTrace(ctx, rep.TraceID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rep.TraceID)
		t.Run(tc.scenario, func(t *testing.T) {
			png := filepath.Join(out, "view-test-"+tc.scenario+".png")
			page, err := CheckView(ctx, chromium, srv.Base, rep.TraceID, rep.SlowHop.SpanID, tc.layer, tc.kinds, png)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(page.SlowHop, rep.SlowHop.Service) {
				t.Errorf("slow hop line %q does not name %s", page.SlowHop, rep.SlowHop.Service)
			}
			t.Logf("slow hop %q; marks per lane %s; screenshot %s", page.SlowHop, page.LaneSummary(), png)
		})
	}

	// The list: newest first, filters by layer and by service.
	dom, err := chromium.DOM(ctx, srv.Base+"/")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`<tr class="trace" data-trace-id="([0-9a-f]+)"`).FindAllStringSubmatch(dom, -1)
	if len(rows) != len(ids) || rows[0][1] != ids[len(ids)-1] {
		t.Fatalf("list rows %v, want %d traces, newest (%s) first", rows, len(ids), ids[len(ids)-1])
	}
	dom, err = chromium.DOM(ctx, srv.Base+"/?layer=L4")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dom, `class="trace"`) || !strings.Contains(dom, `id="empty"`) {
		t.Errorf("?layer=L4 lists traces of other layers")
	}
	dom, err = chromium.DOM(ctx, srv.Base+"/?service=payment&layer=L3")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(dom, `<tr class="trace"`); n != len(ids) {
		t.Errorf("?service=payment&layer=L3 lists %d traces, want %d", n, len(ids))
	}
}
