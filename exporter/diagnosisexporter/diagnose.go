// The diagnosis itself: which hop of a slow trace is slow, its own time, its peer (the five steps' ① and ②).
package diagnosisexporter

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
