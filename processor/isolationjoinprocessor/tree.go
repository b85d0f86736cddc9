package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/nodeid"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// maxTreeDepth bounds the walk up a span's ancestors.
const maxTreeDepth = 64

// spanTree links the spans of one ConsumeTraces batch to their parents in
// the same process, so process-level evidence goes to the innermost span
// that covers it: a run-queue delay during a client call is the client
// span's, not also its parent server span's.
type spanTree struct {
	nodes []treeNode
	ids   map[spanRef]int32
	desc  []int32 // scratch: descendants of one span
}

type spanRef struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

type procRef struct {
	host string
	pid  int64
	res  int // the resource's position when it names no pid
}

type treeNode struct {
	parent     int32 // -1: none in the batch and the process
	start, end int64
	proc       procRef
	hasChild   bool
}

// build indexes the batch. A batch of one span, or one where no span
// names a parent (an exporter's batch of client calls, a load generator's),
// has no links: it needs no index (innermost then keeps every event).
func (t *spanTree) build(rss ptrace.ResourceSpansSlice, hostname string) {
	t.nodes = t.nodes[:0]
	total, children := 0, 0
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			total += spans.Len()
			for k := 0; k < spans.Len() && children == 0; k++ {
				if !spans.At(k).ParentSpanID().IsEmpty() {
					children++
				}
			}
		}
	}
	if total < 2 || children == 0 {
		return
	}
	if t.ids == nil {
		t.ids = make(map[spanRef]int32, total)
	}
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		pr := procRef{host: nodeid.Of(res), pid: kevent.Int(res, contract.AttrProcessPID), res: -1}
		if pr.host == "" {
			pr.host = hostname
		}
		if pr.pid <= 0 {
			pr.pid, pr.res = 0, i
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				start, end := clampNs(uint64(s.StartTimestamp())), clampNs(uint64(s.EndTimestamp()))
				t.ids[spanRef{s.TraceID(), s.SpanID()}] = int32(len(t.nodes))
				t.nodes = append(t.nodes, treeNode{parent: -1, start: start, end: max(start, end), proc: pr})
			}
		}
	}
	// Parents second: a child may come before its parent in the batch.
	n := 0
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				if pid := s.ParentSpanID(); !pid.IsEmpty() {
					if pi, ok := t.ids[spanRef{s.TraceID(), pid}]; ok && int(pi) != n && t.nodes[pi].proc == t.nodes[n].proc {
						t.nodes[n].parent = pi
						t.nodes[pi].hasChild = true
					}
				}
				n++
			}
		}
	}
}

func (t *spanTree) reset() {
	t.nodes = t.nodes[:0]
	clear(t.ids)
}

// innermost drops from events (in place) the process-level events that a
// descendant of span n in the same process covers: those are the
// descendant's. Network- and node-keyed events stay. A sandbox's trap
// windows go the other way (outermost).
func (t *spanTree) innermost(n int, span ptrace.Span, events []*kevent.Event) []*kevent.Event {
	if t.nested(n, span) {
		events = dropSandboxTraps(events)
	}
	if n >= len(t.nodes) || !t.nodes[n].hasChild || len(events) == 0 {
		return events
	}
	t.desc = t.desc[:0]
	for j := range t.nodes {
		if j == n || t.nodes[j].proc != t.nodes[n].proc {
			continue
		}
		for a, d := t.nodes[j].parent, 0; a >= 0 && d < maxTreeDepth; a, d = t.nodes[a].parent, d+1 {
			if int(a) == n {
				t.desc = append(t.desc, int32(j))
				break
			}
		}
	}
	if len(t.desc) == 0 {
		return events
	}
	kept := events[:0]
	for _, e := range events {
		if !e.Local.IsValid() && !e.Peer.IsValid() && e.HasProcess() && !sandboxTraps(e) && t.coveredByDescendant(n, e) {
			continue
		}
		kept = append(kept, e)
	}
	clear(events[len(kept):])
	return kept
}

// coveredByDescendant reports whether a descendant of span n covers most of
// e: a wait [Time − DurationNs, Time] is the descendant's when that one
// overlaps it at least as much as n's own time outside its descendants
// does (the record is stamped when the wait ended, which may be just after
// the child span ended: the end instant alone would leave it on n); an
// instant is the descendant's when the descendant contains it.
func (t *spanTree) coveredByDescendant(n int, e *kevent.Event) bool {
	at := e.Time
	from := at - max(e.DurationNs, 0)
	if from == at {
		for _, j := range t.desc {
			if nd := &t.nodes[j]; nd.start <= at && at <= nd.end {
				return true
			}
		}
		return false
	}
	own := overlap(from, at, t.nodes[n].start, t.nodes[n].end)
	best := int64(0)
	for _, j := range t.desc {
		best = max(best, overlap(from, at, t.nodes[j].start, t.nodes[j].end))
	}
	return best > 0 && 2*best >= own
}

// overlap is the length of [a0, a1] ∩ [b0, b1] (0 when disjoint).
func overlap(a0, a1, b0, b1 int64) int64 {
	return max(min(a1, b1)-max(a0, b0), 0)
}

// nested reports whether span n runs inside a request its process is
// handling: its parent is a span of the same process in the batch, or it
// is a client span with a parent (the parent may have left in another
// batch).
func (t *spanTree) nested(n int, span ptrace.Span) bool {
	if n < len(t.nodes) && t.nodes[n].parent >= 0 {
		return true
	}
	return span.Kind() == ptrace.SpanKindClient && !span.ParentSpanID().IsEmpty()
}

// sandboxTraps reports a sandbox's syscall-trap window (kernel.syscall.slow
// of phase sandbox, gVisor's ptrace platform).
func sandboxTraps(e *kevent.Event) bool {
	return e.Name == contract.EventSyscallSlow && e.Detail != nil && e.Detail.SyscallPhase == "sandbox"
}

// dropSandboxTraps removes (in place) the trap windows of a sandbox from the
// events of a span nested in a request: every syscall of the sandboxed
// service traps, during its downstream calls too, and without a thread per
// span (a stock span names none) a window cannot be split between the
// requests in flight. The traps are the service's handling of its requests,
// which the request's entry span (the server span, the hop a report names)
// measures; a client span measures the call it makes, and a concurrent
// request's traps would otherwise land on it.
func dropSandboxTraps(events []*kevent.Event) []*kevent.Event {
	kept := events[:0]
	for _, e := range events {
		if !sandboxTraps(e) {
			kept = append(kept, e)
		}
	}
	clear(events[len(kept):])
	return kept
}
