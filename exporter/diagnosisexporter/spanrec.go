// A span as the exporter keeps it while its trace is assembled.
package diagnosisexporter

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
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
