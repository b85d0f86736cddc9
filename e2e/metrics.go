package e2e

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Window is a time range [From, To) of trace root starts.
type Window struct{ From, To time.Time }

func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && t.Before(w.To) }

// Hop selects the faulted hop's spans.
type Hop struct {
	Service string
	Kind    int
}

func (h Hop) Match(s *Span) bool { return s.Service == h.Service && s.Kind == h.Kind }

func (h Hop) String() string {
	k := "server"
	if h.Kind == KindClient {
		k = "client"
	}
	return h.Service + "/" + k
}

// Result is one scenario's score.
type Result struct {
	Scenario       string
	Expected       string
	Hop            Hop
	BaselineSpans  int           // spans in the no-fault phase
	BaselineHop    int           // hop spans in the no-fault phase
	BaselineP99    time.Duration // of the hop's spans, no-fault phase
	BaselineFP     int           // no-fault spans tagged with a layer other than app, unexplained
	BaselineExpl   int           // no-fault spans tagged with a layer their own request measurably waited in
	FaultSpans     int
	FaultHop       int
	Positives      int
	TP, FP, FN     int
	Explained      int // negatives tagged expected whose request measurably waited on the mechanism
	FaultHopP99    time.Duration
	Evidence       string // what the TPs must carry, for the table's legend
	EvidenceOK     int    // true positives that carry the scenario's evidence
	Reports        int    // reports on traces with a positive span
	ReportsHopOK   int
	ReportsLayerOK int
	ReportsBothOK  int // reports naming the right hop and the right layer
	// Joins counts isolation.join over both phases' spans ("(none)" when a
	// span has none); every demo span comes from a process on this node.
	Joins map[string]int
	Notes []string
}

// JoinedShare is the share of the scenario's spans whose isolation.join is
// not unmatched (nor missing).
func (r *Result) JoinedShare() float64 {
	total, joined := 0, 0
	for k, n := range r.Joins {
		total += n
		if k != "unmatched" && k != noJoin {
			joined += n
		}
	}
	if total == 0 {
		return 0
	}
	return float64(joined) / float64(total)
}

// JoinCounts renders Joins as "5tuple=120 peer=30 ...", most frequent first.
func (r *Result) JoinCounts() string {
	keys := make([]string, 0, len(r.Joins))
	for k := range r.Joins {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r.Joins[keys[i]] != r.Joins[keys[j]] {
			return r.Joins[keys[i]] > r.Joins[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, r.Joins[k])
	}
	return strings.Join(parts, " ")
}

// noJoin stands for a span without isolation.join.
const noJoin = "(none)"

func countJoins(into map[string]int, spans []*Span) {
	for _, s := range spans {
		j, _ := s.Attrs["isolation.join"].(string)
		if j == "" {
			j = noJoin
		}
		into[j]++
	}
}

func (r *Result) Precision() float64 {
	if r.TP+r.FP == 0 {
		return 0
	}
	return float64(r.TP) / float64(r.TP+r.FP)
}

func (r *Result) Recall() float64 {
	if r.TP+r.FN == 0 {
		return 0
	}
	return float64(r.TP) / float64(r.TP+r.FN)
}

func (r *Result) BaselineFPRate() float64 {
	if r.BaselineSpans == 0 {
		return 0
	}
	return float64(r.BaselineFP) / float64(r.BaselineSpans)
}

// Quantile of durations (nearest rank).
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	return s[i]
}

// tagged reports whether a span carries a verdict other than app.
func tagged(s *Span) bool {
	l := s.Layer()
	return l != "" && l != "app"
}

// PhaseSpans groups spans by trace and keeps the traces whose root span
// starts inside w.
func PhaseSpans(all []Span, w Window) []*Span {
	rootStart := map[string]time.Time{}
	for i := range all {
		s := &all[i]
		if s.ParentID == "" {
			rootStart[s.TraceID] = s.Start
		}
	}
	var out []*Span
	for i := range all {
		s := &all[i]
		if t, ok := rootStart[s.TraceID]; ok && w.Contains(t) {
			out = append(out, s)
		}
	}
	return out
}

// Score computes precision and recall of isolation.layer == expected over
// the fault phase: the hop's spans slower than the no-fault p99 are the
// positives, every other span is a negative.
//
// A negative tagged with the expected layer is not a false positive when
// explained (nil: never) says its own request really waited in that
// layer's mechanism (the service's own measurement): it counts as
// Explained. Likewise a no-fault span tagged with a layer is a false blame
// (BaselineFP) unless explained (BaselineExpl): on a busy machine the
// no-fault phase has real contention too.
func Score(name, expected string, hop Hop, all []Span, noFault, fault Window, reports map[string]Report, evidence, explained func(*Span) bool) *Result {
	r := &Result{Scenario: name, Expected: expected, Hop: hop, Joins: map[string]int{}}
	base := PhaseSpans(all, noFault)
	r.BaselineSpans = len(base)
	countJoins(r.Joins, base)
	var baseHop []time.Duration
	for _, s := range base {
		switch {
		case !tagged(s):
		case explained != nil && explained(s):
			r.BaselineExpl++
		default:
			r.BaselineFP++
		}
		if hop.Match(s) {
			baseHop = append(baseHop, s.Duration())
		}
	}
	r.BaselineHop = len(baseHop)
	r.BaselineP99 = Quantile(baseHop, 0.99)
	if hop.Service == "" {
		return r
	}
	faulted := PhaseSpans(all, fault)
	r.FaultSpans = len(faulted)
	countJoins(r.Joins, faulted)
	var faultHop []time.Duration
	positiveTraces := map[string]bool{}
	for _, s := range faulted {
		pos := hop.Match(s) && s.Duration() > r.BaselineP99
		if hop.Match(s) {
			faultHop = append(faultHop, s.Duration())
		}
		pred := s.Layer() == expected
		switch {
		case pos && pred:
			r.TP++
			if evidence == nil || evidence(s) {
				r.EvidenceOK++
			}
		case pos:
			r.FN++
		case pred && explained != nil && explained(s):
			r.Explained++
		case pred:
			r.FP++
		}
		if pos {
			r.Positives++
			positiveTraces[s.TraceID] = true
		}
	}
	r.FaultHop = len(faultHop)
	r.FaultHopP99 = Quantile(faultHop, 0.99)
	for id := range positiveTraces {
		rep, ok := reports[id]
		if !ok {
			continue
		}
		r.Reports++
		kind := "server"
		if hop.Kind == KindClient {
			kind = "client"
		}
		hopOK := rep.SlowHop.Service == hop.Service && rep.SlowHop.Kind == kind
		layerOK := rep.Layer == expected
		if hopOK {
			r.ReportsHopOK++
		}
		if layerOK {
			r.ReportsLayerOK++
		}
		if hopOK && layerOK {
			r.ReportsBothOK++
		}
	}
	return r
}

// Num reads a numeric span attribute (OTLP JSON carries ints as strings).
func (s *Span) Num(key string) float64 {
	switch v := s.Attrs[key].(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	case string:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	return 0
}

// Cause is the isolation.cause line.
func (s *Span) Cause() string {
	v, _ := s.Attrs["isolation.cause"].(string)
	return v
}

// Histogram renders durations in fixed log buckets.
func Histogram(ds []time.Duration) string {
	bounds := []time.Duration{500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
		20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond}
	counts := make([]int, len(bounds)+1)
	for _, d := range ds {
		i := sort.Search(len(bounds), func(i int) bool { return d <= bounds[i] })
		counts[i]++
	}
	var b strings.Builder
	for i, n := range counts {
		label := "> " + bounds[len(bounds)-1].String()
		if i < len(bounds) {
			label = "≤ " + bounds[i].String()
		}
		bar := strings.Repeat("█", int(math.Ceil(40*float64(n)/float64(max(1, len(ds))))))
		fmt.Fprintf(&b, "      %-9s %5d %s\n", label, n, bar)
	}
	return b.String()
}

// HopDurations returns the hop's span durations among the spans of w.
func HopDurations(all []Span, w Window, hop Hop) []time.Duration {
	var out []time.Duration
	for _, s := range PhaseSpans(all, w) {
		if hop.Match(s) {
			out = append(out, s.Duration())
		}
	}
	return out
}

// Table renders the results.
func Table(results []*Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %-8s %-15s %9s %6s %6s %5s %5s %5s %5s %9s %9s %7s %9s %6s %12s %7s\n",
		"scenario", "expect", "hop", "base p99", "spans", "pos", "TP", "FP", "expl", "FN", "evidence", "precision", "recall", "base FP", "b.expl", "reports ok", "joined")
	for _, r := range results {
		hop := r.Hop.String()
		if r.Hop.Service == "" {
			hop = "-"
		}
		fmt.Fprintf(&b, "%-10s %-8s %-15s %9s %6d %6d %5d %5d %5d %5d %9s %8.1f%% %6.1f%% %8.2f%% %6d %12s %6.2f%%\n",
			r.Scenario, r.Expected, hop, r.BaselineP99.Round(10*time.Microsecond), r.FaultSpans+r.BaselineSpans, r.Positives, r.TP, r.FP, r.Explained, r.FN, fmt.Sprintf("%d/%d", r.EvidenceOK, r.TP),
			100*r.Precision(), 100*r.Recall(), 100*r.BaselineFPRate(), r.BaselineExpl, fmt.Sprintf("%d/%d/%d", r.ReportsHopOK, r.ReportsLayerOK, r.Reports), 100*r.JoinedShare())
	}
	b.WriteString("(expl = spans below the no-fault p99 tagged with the expected layer whose own request measurably waited in that layer — L2: fsync time less its run-queue wait, L3: CPU work's off-CPU time or the span's run-queue wait, ≥ 3ms or ≥ half the span, measured by the service — counted neither TP nor FP; base FP = no-fault spans tagged other than app and not so explained, ≤ 1% in every scenario; b.expl = no-fault spans tagged and explained; evidence = true positives carrying the scenario's evidence / true positives; reports ok = reports on positive traces naming the right hop / the right layer / all such reports; joined = spans whose isolation.join is not unmatched)\n")
	b.WriteString("isolation.join per scenario (both phases):\n")
	for _, r := range results {
		fmt.Fprintf(&b, "  %-10s %s\n", r.Scenario, r.JoinCounts())
	}
	for _, r := range results {
		if r.Evidence != "" {
			fmt.Fprintf(&b, "  %s evidence: %s\n", r.Scenario, r.Evidence)
		}
	}
	return b.String()
}
