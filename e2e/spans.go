package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"time"
)

// Span is the part of an exported span the harness judges.
type Span struct {
	TraceID, SpanID, ParentID string
	Service                   string
	Name                      string
	Kind                      int // OTLP: 2 server, 3 client
	Start, End                time.Time
	Attrs                     map[string]any
}

// OTLP span kinds.
const (
	KindServer = 2
	KindClient = 3
)

func (s *Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Layer is the isolation_join verdict ("" when the span was not tagged).
func (s *Span) Layer() string {
	v, _ := s.Attrs["isolation.layer"].(string)
	return v
}

type otlpValue struct {
	StringValue *string          `json:"stringValue"`
	IntValue    *json.RawMessage `json:"intValue"`
	DoubleValue *float64         `json:"doubleValue"`
	BoolValue   *bool            `json:"boolValue"`
}

type otlpKV struct {
	Key   string    `json:"key"`
	Value otlpValue `json:"value"`
}

func (v otlpValue) raw() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.IntValue != nil:
		var s string
		if json.Unmarshal(*v.IntValue, &s) == nil {
			n, _ := strconv.ParseInt(s, 10, 64)
			return n
		}
		var n int64
		_ = json.Unmarshal(*v.IntValue, &n)
		return n
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.BoolValue != nil:
		return *v.BoolValue
	}
	return nil
}

type otlpTraces struct {
	ResourceSpans []struct {
		Resource struct {
			Attributes []otlpKV `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Spans []struct {
				TraceID           string   `json:"traceId"`
				SpanID            string   `json:"spanId"`
				ParentSpanID      string   `json:"parentSpanId"`
				Name              string   `json:"name"`
				Kind              int      `json:"kind"`
				StartTimeUnixNano string   `json:"startTimeUnixNano"`
				EndTimeUnixNano   string   `json:"endTimeUnixNano"`
				Attributes        []otlpKV `json:"attributes"`
			} `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

func nanos(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Unix(0, n)
}

// ReadSpans parses the file exporter's OTLP JSON lines.
func ReadSpans(path string) ([]Span, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Span
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var td otlpTraces
		if err := json.Unmarshal(sc.Bytes(), &td); err != nil {
			return nil, err
		}
		for _, rs := range td.ResourceSpans {
			service := ""
			for _, kv := range rs.Resource.Attributes {
				if kv.Key == "service.name" {
					service, _ = kv.Value.raw().(string)
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					sp := Span{TraceID: s.TraceID, SpanID: s.SpanID, ParentID: s.ParentSpanID, Service: service, Name: s.Name,
						Kind: s.Kind, Start: nanos(s.StartTimeUnixNano), End: nanos(s.EndTimeUnixNano), Attrs: map[string]any{}}
					for _, kv := range s.Attributes {
						sp.Attrs[kv.Key] = kv.Value.raw()
					}
					out = append(out, sp)
				}
			}
		}
	}
	return out, sc.Err()
}

// Report is the part of a diagnosis JSON line the harness checks.
type Report struct {
	TraceID string `json:"trace_id"`
	SlowHop struct {
		Service string  `json:"service"`
		Peer    string  `json:"peer"`
		Kind    string  `json:"kind"`
		SelfMs  float64 `json:"self_ms"`
	} `json:"slow_hop"`
	Layer string `json:"layer"`
	Cause string `json:"cause"`
}

// ReadReports parses the diagnosis exporter's JSON lines.
func ReadReports(path string) (map[string]Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]Report{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r Report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		out[r.TraceID] = r
	}
	return out, sc.Err()
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
