package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"

import (
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// EventName is the event name of a diagnosis log record.
const EventName = "crosshair.diagnosis"

// Attribute names of a diagnosis log record. The verdict keeps the span's
// names (isolation.*), so one query finds spans and reports alike; the rest of
// the report is under the event's own namespace.
const (
	attrPrefix         = "crosshair.diagnosis."
	AttrRoot           = attrPrefix + "root"
	AttrRootDuration   = attrPrefix + "root.duration_ms"
	AttrTrigger        = attrPrefix + "trigger"
	AttrHopService     = attrPrefix + "slow_hop.service"
	AttrHopPeer        = attrPrefix + "slow_hop.peer"
	AttrHopPeerAddress = attrPrefix + "slow_hop.peer_address"
	AttrHopSpan        = attrPrefix + "slow_hop.span"
	AttrHopKind        = attrPrefix + "slow_hop.kind"
	AttrHopDuration    = attrPrefix + "slow_hop.duration_ms"
	AttrHopSelf        = attrPrefix + "slow_hop.self_ms"
	AttrHopError       = attrPrefix + "slow_hop.error"
	AttrLayer          = "isolation.layer"
	AttrJoin           = "isolation.join"
	AttrCause          = "isolation.cause"
	AttrEvidence       = attrPrefix + "evidence"
	AttrOtherLayers    = attrPrefix + "other_layers"
	AttrEventCount     = attrPrefix + "kernel_events.count"
	AttrEventKinds     = attrPrefix + "kernel_events.kinds"
	AttrRemedy         = attrPrefix + "remedy"
	AttrSpans          = attrPrefix + "spans"
	AttrSpansDropped   = attrPrefix + "spans_dropped"
)

// AppendLogRecord adds the report to logs as one log record: EventName
// crosshair.diagnosis, the report's text as body, its fields as attributes,
// the trace and the slow hop's span as the record's trace context (so a
// backend links the report to the trace), and the slow hop's service as the
// resource's service.name.
func (r *Report) AppendLogRecord(logs plog.Logs, observed time.Time) {
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(string(semconv.ServiceNameKey), r.SlowHop.Service)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/crosshair-otel/crosshair/exporter/diagnosisexporter")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetEventName(EventName)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(r.Time))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(observed))
	sev := plog.SeverityNumberWarn
	if r.SlowHop.Error != "" {
		sev = plog.SeverityNumberError
	}
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(sev.String())
	if b, ok := decodeID(r.TraceID, 16); ok {
		lr.SetTraceID(pcommon.TraceID(b))
	}
	if b, ok := decodeID(r.SlowHop.SpanID, 8); ok {
		lr.SetSpanID(pcommon.SpanID(b))
	}
	lr.Body().SetStr(r.Text())

	a := lr.Attributes()
	a.PutStr(AttrRoot, r.Root)
	a.PutDouble(AttrRootDuration, r.RootMs)
	a.PutStr(AttrTrigger, r.Trigger)
	h := r.SlowHop
	a.PutStr(AttrHopService, h.Service)
	putNonEmpty(a, AttrHopPeer, h.Peer)
	putNonEmpty(a, AttrHopPeerAddress, h.PeerAddress)
	a.PutStr(AttrHopSpan, h.Span)
	a.PutStr(AttrHopKind, h.Kind)
	a.PutDouble(AttrHopDuration, h.DurationMs)
	a.PutDouble(AttrHopSelf, h.SelfMs)
	putNonEmpty(a, AttrHopError, h.Error)
	a.PutStr(AttrLayer, r.Layer)
	putNonEmpty(a, AttrJoin, r.Join)
	putNonEmpty(a, AttrCause, r.Cause)
	if len(r.Evidence) > 0 {
		ev := a.PutEmptyMap(AttrEvidence)
		for _, e := range r.Evidence {
			putAny(ev, e.Name, e.Value)
		}
	}
	if len(r.OtherLayers) > 0 {
		others := a.PutEmptySlice(AttrOtherLayers)
		for _, o := range r.OtherLayers {
			m := others.AppendEmpty().SetEmptyMap()
			m.PutStr("service", o.Service)
			m.PutStr("span", o.Span)
			m.PutStr("kind", o.Kind)
			m.PutStr("layer", o.Layer)
			putNonEmpty(m, "cause", o.Cause)
			m.PutDouble("self_ms", o.SelfMs)
		}
	}
	a.PutInt(AttrEventCount, int64(r.KernelEvents.Count))
	if len(r.KernelEvents.Kinds) > 0 {
		kinds := a.PutEmptyMap(AttrEventKinds)
		names := make([]string, 0, len(r.KernelEvents.Kinds))
		for k := range r.KernelEvents.Kinds {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			kinds.PutInt(k, int64(r.KernelEvents.Kinds[k]))
		}
	}
	a.PutStr(AttrRemedy, r.Remedy)
	a.PutInt(AttrSpans, int64(r.Spans))
	if r.SpansDropped > 0 {
		a.PutInt(AttrSpansDropped, int64(r.SpansDropped))
	}
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}

// putAny puts an evidence value (the span attribute's raw value) with its type.
func putAny(m pcommon.Map, k string, v any) {
	switch x := v.(type) {
	case int64:
		m.PutInt(k, x)
	case int:
		m.PutInt(k, int64(x))
	case float64:
		m.PutDouble(k, x)
	case bool:
		m.PutBool(k, x)
	case string:
		m.PutStr(k, x)
	default:
		m.PutStr(k, fmt.Sprint(x))
	}
}

// decodeID parses a hex ID of n bytes.
func decodeID(s string, n int) ([]byte, bool) {
	b, err := hex.DecodeString(s)
	return b, err == nil && len(b) == n
}
