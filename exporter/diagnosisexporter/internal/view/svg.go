package view

import (
	"html"
	"html/template"
	"strconv"
	"strings"
)

// svg writes the picture as inline SVG. It is written here rather than in
// the page template because a trace has thousands of marks and
// html/template's per-action escaping by reflection costs ~10× more than
// this writer; every piece of span or event text goes through
// html.EscapeString, which is safe in element text and quoted attributes.
func (p *tracePicture) svg() template.HTML {
	var b strings.Builder
	b.Grow(512 + 300*len(p.Rows) + 260*p.marks())
	w := func(parts ...string) {
		for _, s := range parts {
			b.WriteString(s)
		}
	}
	esc := html.EscapeString
	w(`<svg id="crosshair" xmlns="http://www.w3.org/2000/svg" width="`, p.Width, `" height="`, p.Height,
		`" viewBox="0 0 `, p.Width, ` `, p.Height, `" role="img" aria-label="waterfall of the trace's spans over one lane per isolation layer">`, "\n")
	w(`<g class="axis">`)
	for _, t := range p.Ticks {
		w(`<line x1="`, t.X, `" x2="`, t.X, `" y1="20" y2="`, p.Height, `"/><text x="`, t.X, `" y="`, p.AxisY, `" text-anchor="middle">`, esc(t.Label), `</text>`)
	}
	w("</g>\n")
	if p.HopW != "" {
		w(`<rect class="hop" id="hop-column" x="`, p.HopX, `" width="`, p.HopW, `" y="20" height="`, p.Height, `"/>`, "\n")
	}
	w(`<g id="waterfall">`, "\n")
	for i := range p.Rows {
		r := &p.Rows[i]
		w(`<g class="span`)
		if r.Slow {
			w(` slow`)
		}
		if r.Error {
			w(` err`)
		}
		w(`" data-span-id="`, esc(r.ID), `" data-service="`, esc(r.Service), `" data-kind="`, esc(r.Kind), `" data-layer="`, esc(r.Layer), `"><title>`, esc(r.Title),
			`</title><text class="label" x="`, r.Indent, `" y="`, r.LabelY, `">`, esc(clip(r.Service+" · "+r.Name, 40)),
			`</text><rect x="`, r.X, `" y="`, r.Y, `" width="`, r.W, `" height="`, f1(barHeight), `" rx="2"/><text class="dur" x="`, r.DurX, `" y="`, r.TextY, `">`, r.Duration, "</text></g>\n")
	}
	w("</g>\n", `<g id="lanes">`, "\n")
	for i := range p.Lanes {
		l := &p.Lanes[i]
		w(`<g class="lane`)
		if l.Verdict {
			w(` verdict`)
		}
		w(`" id="lane-`, esc(l.Layer), `" data-layer="`, esc(l.Layer), `" data-events="`, strconv.Itoa(l.Count), `"><rect class="bg" x="0" y="`, l.Y,
			`" width="`, p.Width, `" height="`, l.H, `"/><text class="name" x="6" y="`, l.LabelY, `">`, esc(l.Title))
		if l.Count > 0 {
			w(` (`, strconv.Itoa(l.Count), `)`)
		}
		w("</text>\n")
		for j := range l.Marks {
			m := &l.Marks[j]
			w(`<g class="ev `, esc(m.Class))
			if m.Clipped {
				w(` clipped`)
			}
			w(`" data-kind="`, esc(m.Kind), `" data-span-id="`, esc(m.SpanID), `"><title>`, esc(m.Title), `</title>`)
			if m.HasBar {
				w(`<rect class="dur" x="`, m.BarX, `" y="`, l.Y, `" width="`, m.BarW, `" height="`, l.H, `"/>`)
			}
			w(`<circle cx="`, m.X, `" cy="`, l.MidY, `" r="4"/></g>`, "\n")
		}
		w("</g>\n")
	}
	w("</g>\n</svg>")
	return template.HTML(b.String()) //nolint:gosec // every dynamic piece above is escaped
}

func (p *tracePicture) marks() int {
	n := 0
	for i := range p.Lanes {
		n += len(p.Lanes[i].Marks)
	}
	return n
}

// clip shortens a label to n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
