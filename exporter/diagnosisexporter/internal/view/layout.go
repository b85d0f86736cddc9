package view

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Geometry of the trace picture (SVG user units = CSS pixels).
const (
	svgWidth   = 1160.0
	labelWidth = 300.0
	plotLeft   = labelWidth + 10
	plotRight  = svgWidth - 70 // room for the duration text of a bar that ends at the edge
	axisHeight = 26.0
	rowHeight  = 22.0
	barHeight  = 14.0
	laneGap    = 18.0
	laneHeight = 34.0
	// Events may lie outside the spans (a throttling record is stamped at
	// the end of the interval it sums): the axis stretches to show them, by
	// at most this share of the trace's duration on each side; further
	// ones are drawn at the edge and marked clipped.
	maxStretch = 0.25
)

// tracePicture is everything the trace template draws, precomputed so the
// template only prints.
type tracePicture struct {
	Width, Height string
	PlotLeft      string
	PlotWidth     string
	Ticks         []tick
	Rows          []spanRow
	Lanes         []lane
	// The slow hop's extent across the lanes: the crosshair's column.
	HopX, HopW         string
	LanesTop, LanesBot string
	AxisY              string
	Clipped            int // events drawn at the edge
}

type tick struct{ X, Label string }

type spanRow struct {
	ID, Service, Name, Kind, Layer string
	Indent, LabelY, Y, TextY       string
	X, W, DurX                     string
	Duration                       string
	Slow, Error                    bool
	Title                          string
}

type lane struct {
	Layer, Title       string
	Y, H, LabelY, MidY string
	Verdict            bool // the slow hop's layer: the crosshair's row
	Marks              []mark
	Count              int
}

type mark struct {
	Kind, Class, SpanID string
	X, BarX, BarW       string
	HasBar              bool
	Clipped             bool
	Title               string
}

// axis maps kernel and span times to x.
type axis struct {
	from, to int64 // unix ns
	scale    float64
}

func (a axis) x(t int64) (float64, bool) {
	clipped := false
	if t < a.from {
		t, clipped = a.from, true
	}
	if t > a.to {
		t, clipped = a.to, true
	}
	return plotLeft + float64(t-a.from)*a.scale, clipped
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// layoutTrace computes the picture of t.
func layoutTrace(t *Trace) *tracePicture {
	p := &tracePicture{Width: f1(svgWidth), PlotLeft: f1(plotLeft), PlotWidth: f1(plotRight - plotLeft)}
	if len(t.Spans) == 0 {
		p.Height = f1(axisHeight)
		return p
	}
	ax := traceAxis(t)
	p.Ticks = ticks(ax)
	p.AxisY = f1(axisHeight - 8)

	order, depth := treeOrder(t.Spans)
	y := axisHeight
	for _, i := range order {
		s := &t.Spans[i]
		x0, _ := ax.x(s.Start.UnixNano())
		x1, _ := ax.x(s.End.UnixNano())
		w := math.Max(x1-x0, 1)
		d := s.End.Sub(s.Start)
		r := spanRow{
			ID: s.ID, Service: s.Service, Name: s.Name, Kind: s.Kind, Layer: s.Layer,
			Indent: f1(6 + 12*float64(min(depth[i], 12))), LabelY: f1(y + rowHeight/2 + 4),
			Y: f1(y + (rowHeight-barHeight)/2), TextY: f1(y + rowHeight/2 + 4),
			X: f1(x0), W: f1(w), DurX: f1(x0 + w + 4),
			Duration: fmtDur(d), Slow: s.ID == t.SlowSpanID, Error: s.Error,
		}
		r.Title = s.Service + " · " + s.Kind + " " + s.Name + " · " + r.Duration
		if s.Layer != "" {
			r.Title += " · " + s.Layer
			if s.Cause != "" {
				r.Title += ": " + s.Cause
			}
		}
		if r.Slow {
			p.HopX, p.HopW = r.X, r.W
		}
		p.Rows = append(p.Rows, r)
		y += rowHeight
	}

	y += laneGap
	p.LanesTop = f1(y)
	byLayer := make(map[string]int, len(Layers))
	for i, l := range Layers {
		byLayer[l] = i
		p.Lanes = append(p.Lanes, lane{
			Layer: l, Title: l + " " + LayerTitle[l],
			Y: f1(y), H: f1(laneHeight - 4), LabelY: f1(y + laneHeight/2 + 2), MidY: f1(y + (laneHeight-4)/2),
			Verdict: l == t.Layer,
		})
		y += laneHeight
	}
	p.LanesBot = f1(y)
	p.Height = f1(y + 4)

	for i := range t.Spans {
		s := &t.Spans[i]
		for j := range s.Events {
			ev := &s.Events[j]
			li, ok := byLayer[ev.Layer]
			if !ok {
				continue
			}
			m := eventMark(ax, s, ev)
			if m.Clipped {
				p.Clipped++
			}
			p.Lanes[li].Marks = append(p.Lanes[li].Marks, m)
			p.Lanes[li].Count++
		}
	}
	return p
}

// eventMark places one event: a mark at its kernel time and, for an event
// that took time (kernel.time_ms > 0: a run-queue wait, a slow syscall, a
// block IO, a throttled period, a retransmit's measured wait), a bar of
// that time ending at the event, since events are stamped when they end.
// A throttling record is stamped at the end of the interval it sums, often
// after the span: its bar ends where the span ends.
func eventMark(ax axis, s *Span, ev *Event) mark {
	at := ev.Time.UnixNano()
	x, clipped := ax.x(at)
	m := mark{
		Kind: ev.Name, SpanID: s.ID, X: f1(x), Clipped: clipped,
		Class: "k-" + strings.ReplaceAll(strings.TrimPrefix(ev.Name, "kernel."), ".", "-"),
	}
	if ev.TimeMs > 0 {
		end := at
		if ev.Name == "kernel.cgroup.throttle" && end > s.End.UnixNano() {
			end = s.End.UnixNano()
		}
		start := end - int64(ev.TimeMs*1e6)
		bx0, _ := ax.x(start)
		bx1, _ := ax.x(end)
		m.HasBar, m.BarX, m.BarW = true, f1(bx0), f1(math.Max(bx1-bx0, 1.5))
	}
	var b strings.Builder
	b.WriteString(ev.Name)
	b.WriteString(" at ")
	b.WriteString(ev.Time.UTC().Format("15:04:05.000000"))
	if ev.TimeMs > 0 {
		b.WriteString(" · ")
		b.WriteString(strconv.FormatFloat(ev.TimeMs, 'f', -1, 64))
		b.WriteString("ms")
	}
	for _, kv := range ev.Details {
		b.WriteString(" · ")
		b.WriteString(kv.Key)
		b.WriteString("=")
		b.WriteString(kv.Value)
	}
	b.WriteString(" · on ")
	b.WriteString(s.Service)
	b.WriteString(" ")
	b.WriteString(s.Name)
	m.Title = b.String()
	return m
}

// traceAxis spans the trace's spans, stretched to show its events.
func traceAxis(t *Trace) axis {
	from, to := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range t.Spans {
		from = min(from, t.Spans[i].Start.UnixNano())
		to = max(to, t.Spans[i].End.UnixNano())
	}
	if to <= from {
		to = from + int64(time.Millisecond)
	}
	stretch := int64(float64(to-from) * maxStretch)
	lo, hi := from, to
	for i := range t.Spans {
		for j := range t.Spans[i].Events {
			ev := t.Spans[i].Events[j].Time.UnixNano()
			lo, hi = min(lo, max(ev, from-stretch)), max(hi, min(ev, to+stretch))
		}
	}
	return axis{from: lo, to: hi, scale: (plotRight - plotLeft) / float64(hi-lo)}
}

// ticks puts at most 10 labelled ticks on round milliseconds (1, 2 or 5
// times a power of ten) from the axis start.
func ticks(ax axis) []tick {
	span := float64(ax.to-ax.from) / 1e6 // ms
	step := 1e-3
	for i := 0; span/step > 10; i++ {
		step *= [...]float64{2, 2.5, 2}[i%3] // 1 → 2 → 5 → 10
	}
	prec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var out []tick
	for n := 0; float64(n)*step <= span+1e-9; n++ {
		v := float64(n) * step
		x, _ := ax.x(ax.from + int64(v*1e6))
		out = append(out, tick{X: f1(x), Label: strconv.FormatFloat(v, 'f', prec, 64) + "ms"})
	}
	return out
}

// treeOrder orders spans parent before children, siblings by start time,
// and gives each its depth; spans whose parent is missing are roots.
func treeOrder(spans []Span) ([]int, []int) {
	byID := make(map[string]int, len(spans))
	for i := range spans {
		byID[spans[i].ID] = i
	}
	kids := make(map[int][]int, len(spans))
	var roots []int
	for i := range spans {
		if p, ok := byID[spans[i].ParentID]; ok && spans[i].ParentID != "" && p != i {
			kids[p] = append(kids[p], i)
		} else {
			roots = append(roots, i)
		}
	}
	byStart := func(ix []int) {
		sort.SliceStable(ix, func(a, b int) bool { return spans[ix[a]].Start.Before(spans[ix[b]].Start) })
	}
	byStart(roots)
	order := make([]int, 0, len(spans))
	depth := make([]int, len(spans))
	seen := make([]bool, len(spans))
	var walk func(i, d int)
	walk = func(i, d int) {
		if seen[i] { // a cycle in broken input
			return
		}
		seen[i] = true
		depth[i] = d
		order = append(order, i)
		k := kids[i]
		byStart(k)
		for _, c := range k {
			walk(c, d+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for i := range spans { // spans only reachable through a cycle
		if !seen[i] {
			walk(i, 0)
		}
	}
	return order, depth
}

// fmtDur prints a duration the way the report does: ms with one decimal,
// µs below a millisecond.
func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) + "µs"
	}
	return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms"
}
