package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Span attributes written by the isolation_join processor (docs/design.md §4).
const (
	attrJoin  = "isolation.join"
	attrLayer = "isolation.layer"
	attrCause = "isolation.cause"
)

// Report is one trace's diagnosis, the five steps of the seed documents.
type Report struct {
	TraceID      string     `json:"trace_id"`
	Time         time.Time  `json:"time"`
	Root         string     `json:"root"`
	RootMs       float64    `json:"root_ms"`
	Trigger      string     `json:"trigger"`
	SlowHop      Hop        `json:"slow_hop"`
	Layer        string     `json:"layer"`
	Join         string     `json:"join,omitempty"`
	Cause        string     `json:"cause,omitempty"`
	Evidence     []Evidence `json:"evidence,omitempty"`
	OtherLayers  []Other    `json:"other_layers,omitempty"`
	KernelEvents Events     `json:"kernel_events"`
	Remedy       string     `json:"remedy"`
	Spans        int        `json:"spans"`
	SpansDropped int        `json:"spans_dropped,omitempty"`
}

// Hop is ① the slow hop: the span whose own time dominates the trace.
type Hop struct {
	Service     string  `json:"service"`
	Peer        string  `json:"peer,omitempty"`
	PeerAddress string  `json:"peer_address,omitempty"`
	Span        string  `json:"span"`
	SpanID      string  `json:"span_id"`
	Kind        string  `json:"kind"`
	DurationMs  float64 `json:"duration_ms"`
	SelfMs      float64 `json:"self_ms"`
	Error       string  `json:"error,omitempty"`
}

// Evidence is one kernel.* sum the processor wrote on the span.
type Evidence struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// Other is ③ another span of the trace whose layer has evidence.
type Other struct {
	Service string  `json:"service"`
	Span    string  `json:"span"`
	Kind    string  `json:"kind"`
	Layer   string  `json:"layer"`
	Cause   string  `json:"cause,omitempty"`
	SelfMs  float64 `json:"self_ms"`
}

// Events is ④ the kernel events joined onto the slow hop.
type Events struct {
	Count int            `json:"count"`
	Kinds map[string]int `json:"kinds,omitempty"`
	First *time.Time     `json:"first,omitempty"`
	Last  *time.Time     `json:"last,omitempty"`
	Times []time.Time    `json:"times,omitempty"`
}

const maxEventTimes = 8

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// HopLine is ① as one line: "order → payment".
func (r *Report) HopLine() string {
	h := r.SlowHop
	switch {
	case h.Kind == "server" && h.Peer != "":
		return h.Peer + " → " + h.Service
	case h.Peer != "":
		return h.Service + " → " + h.Peer
	}
	return h.Service
}

// Text renders the report for a human.
//
// Every string a span supplied is escaped first (printable.go).
func (r *Report) Text() string {
	r = r.printableCopy()
	var b strings.Builder
	fmt.Fprintf(&b, "── diagnosis · trace %s · %s · %s (%.1fms)\n", r.TraceID, r.Time.Format(time.RFC3339Nano), r.Root, r.RootMs)
	fmt.Fprintf(&b, "   why:      %s\n", r.Trigger)
	h := r.SlowHop
	fmt.Fprintf(&b, "①  slow hop: %s — %s span %q of %s, %.1fms (own %.1fms)", r.HopLine(), h.Kind, h.Span, h.Service, h.DurationMs, h.SelfMs)
	if h.PeerAddress != "" {
		fmt.Fprintf(&b, ", peer %s", h.PeerAddress)
	}
	if h.Error != "" {
		fmt.Fprintf(&b, ", error: %s", h.Error)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "②  layer:    %s", r.Layer)
	if r.Join != "" {
		fmt.Fprintf(&b, " (join %s)", r.Join)
	}
	if r.Cause != "" {
		fmt.Fprintf(&b, " — %s", r.Cause)
	}
	b.WriteString("\n")
	if len(r.Evidence) > 0 {
		parts := make([]string, len(r.Evidence))
		for i, e := range r.Evidence {
			parts[i] = fmt.Sprintf("%s=%v", e.Name, e.Value)
		}
		fmt.Fprintf(&b, "    evidence: %s\n", strings.Join(parts, " "))
	}
	if len(r.OtherLayers) == 0 {
		b.WriteString("③  other layers: none with evidence\n")
	} else {
		b.WriteString("③  other layers:\n")
		for _, o := range r.OtherLayers {
			fmt.Fprintf(&b, "      %s on %s %s span %q (own %.1fms)", o.Layer, o.Service, o.Kind, o.Span, o.SelfMs)
			if o.Cause != "" {
				fmt.Fprintf(&b, " — %s", o.Cause)
			}
			b.WriteString("\n")
		}
	}
	ke := r.KernelEvents
	if ke.Count == 0 {
		b.WriteString("④  kernel events: none joined\n")
	} else {
		kinds := make([]string, 0, len(ke.Kinds))
		for k, n := range ke.Kinds {
			kinds = append(kinds, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(kinds)
		fmt.Fprintf(&b, "④  kernel events: %d (%s), %s – %s\n", ke.Count, strings.Join(kinds, ", "),
			ke.First.Format("15:04:05.000000"), ke.Last.Format("15:04:05.000000"))
	}
	fmt.Fprintf(&b, "⑤  remedy:   %s\n", r.Remedy)
	return b.String()
}
