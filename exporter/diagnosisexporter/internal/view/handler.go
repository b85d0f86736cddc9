package view

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

// maxEventRows bounds the slow hop's event table; the lanes draw them all.
const maxEventRows = 500

// Pages renders the list and trace pages from a ring.
type Pages struct {
	ring *Ring
	list *template.Template
	one  *template.Template
}

// NewPages parses the templates once.
func NewPages(ring *Ring) (*Pages, error) {
	parse := func(page string) (*template.Template, error) {
		t, err := template.ParseFS(templateFiles, "templates/layout.html", "templates/"+page)
		if err != nil {
			return nil, fmt.Errorf("parsing view template %s: %w", page, err)
		}
		return t, nil
	}
	list, err := parse("list.html")
	if err != nil {
		return nil, err
	}
	one, err := parse("trace.html")
	if err != nil {
		return nil, err
	}
	return &Pages{ring: ring, list: list, one: one}, nil
}

// Handler serves GET / (the list, ?service=&layer=) and GET /trace/{id}.
func (p *Pages) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.serveList)
	mux.HandleFunc("GET /trace/{id}", p.serveTrace)
	return mux
}

type listData struct {
	Title, Base      string
	Filter           Filter
	Services, Layers []string
	Traces           []*Trace
	Held, Capacity   int
}

func (p *Pages) serveList(w http.ResponseWriter, r *http.Request) {
	f := Filter{Service: r.URL.Query().Get("service"), Layer: r.URL.Query().Get("layer")}
	d := listData{
		Title: "diagnosed traces", Filter: f, Services: p.ring.Services(), Layers: Layers,
		Traces: p.ring.List(f), Held: p.ring.Len(), Capacity: len(p.ring.buf),
	}
	render(w, p.list, "list.html", d)
}

func (p *Pages) serveTrace(w http.ResponseWriter, r *http.Request) {
	t := p.ring.Get(r.PathValue("id"))
	if t == nil {
		http.Error(w, "no diagnosed trace with this id is held (the view keeps the last "+strconv.Itoa(len(p.ring.buf))+")", http.StatusNotFound)
		return
	}
	var buf bytes.Buffer
	if err := p.RenderTrace(&buf, t); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

type traceData struct {
	Title, Base string
	Trace       *Trace
	Picture     *tracePicture
	SVG         template.HTML
	HopEvents   int
	Events      []eventRow
	MoreEvents  int
}

type eventRow struct {
	At, Name, Layer, Took string
	Details               []KV
}

// RenderTrace writes the trace page of t.
func (p *Pages) RenderTrace(w *bytes.Buffer, t *Trace) error {
	d := traceData{Title: t.Root, Trace: t, Picture: layoutTrace(t)}
	d.SVG = d.Picture.svg()
	var origin time.Time
	for i := range t.Spans {
		if s := t.Spans[i].Start; origin.IsZero() || s.Before(origin) {
			origin = s
		}
	}
	for i := range t.Spans {
		s := &t.Spans[i]
		if s.ID != t.SlowSpanID {
			continue
		}
		d.HopEvents = len(s.Events)
		for j := range s.Events {
			if len(d.Events) == maxEventRows {
				d.MoreEvents = len(s.Events) - maxEventRows
				break
			}
			ev := &s.Events[j]
			row := eventRow{At: fmtOffset(ev.Time.Sub(origin)), Name: ev.Name, Layer: ev.Layer, Details: ev.Details}
			if ev.TimeMs > 0 {
				row.Took = strconv.FormatFloat(ev.TimeMs, 'f', 1, 64) + "ms"
			}
			d.Events = append(d.Events, row)
		}
	}
	if err := p.one.ExecuteTemplate(w, "trace.html", d); err != nil {
		return fmt.Errorf("rendering trace %s: %w", t.ID, err)
	}
	return nil
}

func render(w http.ResponseWriter, t *template.Template, name string, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

// fmtOffset prints a time relative to the trace's first span: +12.345ms.
func fmtOffset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "−", -d
	}
	return sign + strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) + "ms"
}
