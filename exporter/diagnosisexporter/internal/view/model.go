// Package view serves the crosshair view: the recently diagnosed traces as
// HTML pages, each trace drawn as its hops (a waterfall) over the isolation
// layers (one lane per layer with the kernel events joined onto the spans).
// Pages are rendered on the server with html/template and inline SVG: no
// script, no external asset, so the view works on an air-gapped node.
package view

import "time"

// Layers is the lane order of the trace page: the isolation stack from the
// sandbox (L4) down to the hardware (L0), then the path beyond the node and
// the application itself (docs/design.md §1).
var Layers = []string{"L4", "L3", "L2", "L1", "L0", "network", "app"}

// LayerTitle names each lane for people who do not know the L-numbers.
var LayerTitle = map[string]string{
	"L4":      "sandbox",
	"L3":      "container",
	"L2":      "virtual device",
	"L1":      "hypervisor",
	"L0":      "hardware",
	"network": "beyond the node",
	"app":     "application",
}

// Trace is one diagnosed trace as the view keeps it: the diagnosis (the
// five steps) and the spans it was made from.
type Trace struct {
	ID       string
	Received time.Time // when the diagnosis was made
	Root     string    // "service span-name" of the root span
	RootMs   float64
	Trigger  string

	// ① the slow hop
	SlowSpanID string
	HopLine    string // "order → payment"
	HopService string
	HopKind    string
	HopSpan    string
	HopMs      float64
	HopSelfMs  float64
	HopError   string
	HopPeer    string

	// ② ⑤ the verdict on the slow hop
	Layer    string
	Join     string
	Cause    string
	Evidence []KV
	Remedy   string

	// ③ other spans with layer evidence
	Others []Other

	Spans        []Span
	SpansDropped int
}

// Other is a span other than the slow hop with evidence on a layer.
type Other struct {
	Service, Span, Kind, Layer, Cause string
	SelfMs                            float64
}

// KV is one attribute shown to people.
type KV struct{ Key, Value string }

// Span is one span of the trace.
type Span struct {
	ID, ParentID  string
	Service, Name string
	Kind          string
	Start, End    time.Time
	Error         bool
	Layer, Cause  string
	Join          string
	Events        []Event
}

// Event is one kernel event the isolation_join processor joined onto a span
// (a span event named kernel.*).
type Event struct {
	Name   string
	Time   time.Time // the kernel's time of the event
	Layer  string    // isolation.layer the processor gave it
	TimeMs float64   // kernel.time_ms: what it took out of the span
	// Details are the event's other attributes (drop reason, syscall and
	// phase, device, peer), sorted by key.
	Details []KV
}

// Services lists the services of the trace's spans, sorted, once each.
func (t *Trace) Services() []string {
	seen := map[string]bool{}
	var out []string
	for i := range t.Spans {
		if s := t.Spans[i].Service; !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sortStrings(out)
	return out
}

// HasLayer reports whether the verdict on the slow hop, or on another span
// with evidence, is layer.
func (t *Trace) HasLayer(layer string) bool {
	if t.Layer == layer {
		return true
	}
	for _, o := range t.Others {
		if o.Layer == layer {
			return true
		}
	}
	return false
}
