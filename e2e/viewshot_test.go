package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// viewShots is the e2e harness's hook into the crosshair view: for each
// scenario it replays the first positive trace (a span of the faulted hop
// slower than its no-fault p99, tagged with the expected layer, whose
// diagnosis names that span as the slow hop) from spans.jsonl into a
// view-only collector, loads its page in headless Chromium, checks that
// the page highlights that hop and draws its kernel evidence on the
// expected layer's lane, and writes a screenshot to _out/view-<scenario>.png.
type viewShots struct {
	t         *testing.T
	collector string
	out       string
	chromium  *Chromium
	server    *ViewServer
	hops      map[string]string // trace id → the diagnosis's slow hop span id
	layers    map[string]string // trace id → the diagnosis's layer
}

func newViewShots(t *testing.T, collector, out string) *viewShots {
	v := &viewShots{t: t, collector: collector, out: out}
	c, err := FindChromium()
	if err != nil {
		t.Logf("view screenshots skipped: %v", err)
		return v
	}
	v.chromium = c
	t.Cleanup(func() {
		if v.server != nil {
			v.server.Stop()
		}
	})
	return v
}

func (v *viewShots) take(res *Result, fault Window, spans []Span) {
	t := v.t
	if v.chromium == nil || res.Hop.Service == "" {
		return
	}
	if v.hops == nil {
		if err := v.readReports(); err != nil {
			t.Errorf("view %s: reading diagnosis.jsonl: %v", res.Scenario, err)
			return
		}
	}
	var cands []*Span
	for _, s := range PhaseSpans(spans, fault) {
		if res.Hop.Match(s) && s.Duration() > res.BaselineP99 && s.Layer() == res.Expected &&
			v.hops[s.TraceID] == s.SpanID && v.layers[s.TraceID] == res.Expected {
			cands = append(cands, s)
		}
	}
	if len(cands) == 0 {
		t.Logf("view %s: no positive trace whose diagnosis names its hop and layer %s; no screenshot", res.Scenario, res.Expected)
		return
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Start.Before(cands[j].Start) })
	s := cands[0]
	ctx := context.Background()
	if v.server == nil {
		srv, err := StartViewServer(ctx, v.collector, v.out)
		if err != nil {
			t.Errorf("view %s: %v", res.Scenario, err)
			return
		}
		v.server = srv
	}
	reqs, err := TraceRequests(filepath.Join(v.out, "spans.jsonl"), s.TraceID)
	if err == nil {
		err = v.server.Replay(reqs)
	}
	if err == nil {
		err = v.server.WaitTrace(ctx, s.TraceID)
	}
	if err != nil {
		t.Errorf("view %s: trace %s: %v", res.Scenario, s.TraceID, err)
		return
	}
	png := filepath.Join(v.out, "view-"+res.Scenario+".png")
	page, err := CheckView(ctx, v.chromium, v.server.Base, s.TraceID, s.SpanID, res.Expected, nil, png)
	if err != nil {
		t.Errorf("view %s: %v", res.Scenario, err)
		return
	}
	t.Logf("view %s: trace %s drawn (slow hop %s, marks per lane: %s), screenshot %s", res.Scenario, s.TraceID, page.SlowHop, page.LaneSummary(), png)
}

func (v *viewShots) readReports() error {
	f, err := os.Open(filepath.Join(v.out, "diagnosis.jsonl"))
	if err != nil {
		return err
	}
	defer f.Close()
	v.hops, v.layers = map[string]string{}, map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r struct {
			TraceID string `json:"trace_id"`
			Layer   string `json:"layer"`
			SlowHop struct {
				SpanID string `json:"span_id"`
			} `json:"slow_hop"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return err
		}
		v.hops[r.TraceID], v.layers[r.TraceID] = r.SlowHop.SpanID, r.Layer
	}
	return sc.Err()
}
