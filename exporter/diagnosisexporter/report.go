package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	semconv112 "go.opentelemetry.io/otel/semconv/v1.12.0"
	semconv120 "go.opentelemetry.io/otel/semconv/v1.20.0"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Span attributes written by the isolation_join processor (docs/design.md §4).
const (
	attrJoin  = "isolation.join"
	attrLayer = "isolation.layer"
	attrCause = "isolation.cause"
)

// spanRec is the part of a span the report needs, copied out of pdata.
type spanRec struct {
	service   string
	spanID    pcommon.SpanID
	parentID  pcommon.SpanID
	name      string
	kind      ptrace.SpanKind
	start     time.Time
	end       time.Time
	statusErr bool
	statusMsg string
	attrs     map[string]any
	events    []eventRec
}

type eventRec struct {
	name  string
	time  time.Time
	attrs map[string]any
}

func copySpan(service string, s ptrace.Span) spanRec {
	r := spanRec{
		service:   service,
		spanID:    s.SpanID(),
		parentID:  s.ParentSpanID(),
		name:      s.Name(),
		kind:      s.Kind(),
		start:     s.StartTimestamp().AsTime(),
		end:       s.EndTimestamp().AsTime(),
		statusErr: s.Status().Code() == ptrace.StatusCodeError,
		statusMsg: s.Status().Message(),
		attrs:     s.Attributes().AsRaw(),
	}
	evs := s.Events()
	for i := 0; i < evs.Len(); i++ {
		ev := evs.At(i)
		r.events = append(r.events, eventRec{name: ev.Name(), time: ev.Timestamp().AsTime(), attrs: ev.Attributes().AsRaw()})
	}
	return r
}

func (s *spanRec) duration() time.Duration { return s.end.Sub(s.start) }

func (s *spanRec) str(key string) string {
	if v, ok := s.attrs[key]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

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

// diagnose builds the report of one trace, or reports false when no span of
// it is slow or failed.
func diagnose(traceID pcommon.TraceID, spans []spanRec, cfg *Config) (*Report, bool) {
	if len(spans) == 0 {
		return nil, false
	}
	trigger := ""
	longest := -1
	for i := range spans {
		if spans[i].duration() > cfg.SlowThreshold && (longest < 0 || spans[i].duration() > spans[longest].duration()) {
			longest = i
		}
	}
	if longest >= 0 {
		s := &spans[longest]
		trigger = fmt.Sprintf("%s span %q of %s took %s > slow_threshold %s", kindName(s.kind), s.name, s.service, s.duration().Round(time.Microsecond), cfg.SlowThreshold)
	}
	if trigger == "" && cfg.IncludeErrors {
		for i := range spans {
			if spans[i].statusErr {
				trigger = fmt.Sprintf("span %q of %s failed: %s", spans[i].name, spans[i].service, spans[i].statusMsg)
				break
			}
		}
	}
	if trigger == "" {
		return nil, false
	}

	byID := make(map[pcommon.SpanID]int, len(spans))
	for i := range spans {
		byID[spans[i].spanID] = i
	}
	children := make(map[pcommon.SpanID][]int)
	root := -1
	for i := range spans {
		if p, ok := byID[spans[i].parentID]; ok && !spans[i].parentID.IsEmpty() {
			children[spans[p].spanID] = append(children[spans[p].spanID], i)
		} else if root < 0 || spans[i].start.Before(spans[root].start) {
			root = i
		}
	}
	self := make([]time.Duration, len(spans))
	for i := range spans {
		self[i] = selfTime(&spans[i], spans, children[spans[i].spanID])
	}

	// ① the slow hop: most own time; an error span wins when nothing is slow.
	hop := 0
	for i := range spans {
		if self[i] > self[hop] {
			hop = i
		}
	}
	if spans[hop].duration() <= cfg.SlowThreshold {
		for i := range spans {
			if spans[i].statusErr {
				hop = i
				break
			}
		}
	}
	h := &spans[hop]
	r := &Report{
		TraceID: traceID.String(),
		Time:    h.start.UTC(),
		Root:    spans[root].service + " " + spans[root].name,
		RootMs:  ms(spans[root].duration()),
		Trigger: trigger,
		Spans:   len(spans),
		SlowHop: Hop{
			Service:    h.service,
			Span:       h.name,
			SpanID:     h.spanID.String(),
			Kind:       kindName(h.kind),
			DurationMs: ms(h.duration()),
			SelfMs:     ms(self[hop]),
		},
	}
	if h.statusErr {
		r.SlowHop.Error = h.statusMsg
		if r.SlowHop.Error == "" {
			r.SlowHop.Error = "error"
		}
	}
	r.SlowHop.Peer, r.SlowHop.PeerAddress = peerOf(h, spans, byID, children[h.spanID])

	// ② layer and cause with evidence.
	r.Layer = h.str(attrLayer)
	if r.Layer == "" {
		r.Layer = "unknown"
	}
	r.Join = h.str(attrJoin)
	r.Cause = h.str(attrCause)
	keys := make([]string, 0)
	for k := range h.attrs {
		if strings.HasPrefix(k, "kernel.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.Evidence = append(r.Evidence, Evidence{Name: k, Value: h.attrs[k]})
	}

	// ③ other spans with layer evidence, most own time first.
	var others []int
	for i := range spans {
		l := spans[i].str(attrLayer)
		if i == hop || l == "" || l == "app" || l == "unknown" {
			continue
		}
		others = append(others, i)
	}
	sort.SliceStable(others, func(a, b int) bool { return self[others[a]] > self[others[b]] })
	for _, i := range others {
		s := &spans[i]
		r.OtherLayers = append(r.OtherLayers, Other{Service: s.service, Span: s.name, Kind: kindName(s.kind), Layer: s.str(attrLayer), Cause: s.str(attrCause), SelfMs: ms(self[i])})
	}

	// ④ joined kernel events (the processor writes one span event each).
	for _, ev := range h.events {
		if !strings.HasPrefix(ev.name, "kernel.") {
			continue
		}
		if r.KernelEvents.Kinds == nil {
			r.KernelEvents.Kinds = map[string]int{}
		}
		r.KernelEvents.Count++
		r.KernelEvents.Kinds[ev.name]++
		t := ev.time.UTC()
		if r.KernelEvents.First == nil || t.Before(*r.KernelEvents.First) {
			r.KernelEvents.First = &t
		}
		if r.KernelEvents.Last == nil || t.After(*r.KernelEvents.Last) {
			r.KernelEvents.Last = &t
		}
		if len(r.KernelEvents.Times) < maxEventTimes {
			r.KernelEvents.Times = append(r.KernelEvents.Times, t)
		}
	}

	// ⑤ remedy.
	r.Remedy = remedy(cfg.Remedies, r.Layer, r.Cause, r.SlowHop.Service)
	return r, true
}

// selfTime is the span's duration minus the union of its children's
// intervals (clipped to the span): the time spent in this hop itself.
func selfTime(s *spanRec, spans []spanRec, kids []int) time.Duration {
	type iv struct{ a, b time.Time }
	var ivs []iv
	for _, k := range kids {
		a, b := spans[k].start, spans[k].end
		if a.Before(s.start) {
			a = s.start
		}
		if b.After(s.end) {
			b = s.end
		}
		if b.After(a) {
			ivs = append(ivs, iv{a, b})
		}
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].a.Before(ivs[j].a) })
	var covered time.Duration
	var cur *iv
	for i := range ivs {
		if cur == nil || ivs[i].a.After(cur.b) {
			if cur != nil {
				covered += cur.b.Sub(cur.a)
			}
			c := ivs[i]
			cur = &c
			continue
		}
		if ivs[i].b.After(cur.b) {
			cur.b = ivs[i].b
		}
	}
	if cur != nil {
		covered += cur.b.Sub(cur.a)
	}
	if d := s.duration() - covered; d > 0 {
		return d
	}
	return 0
}

// The span attributes that name the other end of a hop, the current
// semantic conventions first, then the names older SDKs still send.
var (
	serverAddressKeys = []string{string(semconv.ServerAddressKey), string(semconv.NetworkPeerAddressKey), string(semconv120.NetPeerNameKey), string(semconv120.NetSockPeerAddrKey), string(semconv112.NetPeerIPKey)}
	serverPortKeys    = []string{string(semconv.ServerPortKey), string(semconv.NetworkPeerPortKey), string(semconv120.NetPeerPortKey), string(semconv120.NetSockPeerPortKey)}
	clientAddressKeys = []string{string(semconv.ClientAddressKey), string(semconv.NetworkPeerAddressKey), string(semconv120.NetSockPeerAddrKey)}
)

// peerOf names the other end of the hop: for a client span the service of
// its server-side child (or the address it called), for a server span the
// service of its caller.
func peerOf(h *spanRec, spans []spanRec, byID map[pcommon.SpanID]int, kids []int) (string, string) {
	addr := firstAttr(h, serverAddressKeys...)
	if addr != "" {
		if port := firstAttr(h, serverPortKeys...); port != "" {
			addr += ":" + port
		}
	}
	switch h.kind {
	case ptrace.SpanKindClient, ptrace.SpanKindProducer:
		for _, k := range kids {
			if spans[k].service != h.service {
				return spans[k].service, addr
			}
		}
		return addr, addr
	case ptrace.SpanKindServer, ptrace.SpanKindConsumer:
		if p, ok := byID[h.parentID]; ok && spans[p].service != h.service {
			return spans[p].service, firstAttr(h, clientAddressKeys...)
		}
		return firstAttr(h, clientAddressKeys...), ""
	}
	return "", addr
}

func firstAttr(s *spanRec, keys ...string) string {
	for _, k := range keys {
		if v := s.str(k); v != "" {
			return v
		}
	}
	return ""
}

func kindName(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	case ptrace.SpanKindInternal:
		return "internal"
	}
	return "unspecified"
}

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
