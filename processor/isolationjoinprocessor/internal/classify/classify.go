// Package classify turns the kernel events joined to a span into a verdict
// (docs/design.md §5): each event is given a layer (configured rules, then
// the internal/layers table) and a share of the span's time; the layer with
// the most time wins.
//
// classify.go: layers of events; verdict.go: the verdict of a span;
// timeof.go: the time an event takes out of a span; cause.go: the cause text.
package classify

import (
	"slices"
	"time"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// Rule is a configured rule: it maps an event to a layer when every Match
// entry equals the event's attribute (kevent.MatchKeys lists the keys a
// rule may test), even over the record's own layer.
type Rule struct {
	Event string
	Match map[string]string
	Layer string
}

// row is r as a row of the layers table.
func (r *Rule) row() layers.Row {
	keys := make([]string, 0, len(r.Match))
	for k := range r.Match {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	when := make([]layers.Cond, len(keys))
	for i, k := range keys {
		when[i] = layers.Is(k, r.Match[k])
	}
	return layers.Row{Event: r.Event, When: when, Layer: r.Layer, Why: "configured rule", OverRecord: true}
}

// Thresholds say how much an event weighs.
type Thresholds struct {
	// EventCost is the time charged for an event that carries no duration
	// (a retransmit without a measured kernel.tcp.retransmit.wait_ns waits at
	// least the minimum RTO, 200ms on Linux).
	EventCost time.Duration
	// Events with a duration below their minimum are noise and ignored.
	MinSchedDelay   time.Duration
	MinSyscall      time.Duration
	MinBlockLatency time.Duration
	// A layer is the verdict only when the time attributed to it is at
	// least MinShare of the span's duration and at least MinTime: evidence
	// that explains a sliver of the span is listed, the verdict stays app.
	MinShare float64
	MinTime  time.Duration
	// MinProratedTime applies when the winning layer's time is mostly
	// prorated rather than measured: a record summing an interval (cgroup
	// throttling over periods) charges every overlapping span its share of
	// the interval's total, whether or not that span was the one stalled.
	// Unless the layer's measured time alone reaches MinTime, its total
	// must reach MinProratedTime.
	MinProratedTime time.Duration
}

// DefaultThresholds suit a busy node.
var DefaultThresholds = Thresholds{
	EventCost:       200 * time.Millisecond,
	MinSchedDelay:   time.Millisecond,
	MinSyscall:      time.Millisecond,
	MinBlockLatency: time.Millisecond,
	MinShare:        0.2,
	// Measured delays (a syscall body, a loss recovery, a run-queue wait)
	// under 3ms are within a request's own jitter (a GC pause, a cold
	// cache): naming a layer for them would page the wrong team.
	MinTime: 3 * time.Millisecond,
	// A prorated share (throttling averaged over 100ms periods) under
	// 10ms says the cgroup was throttled around the span, not that the
	// span waited: in a cgroup throttled 80% of the time, every fast
	// request is charged 80% of its length.
	MinProratedTime: 10 * time.Millisecond,
}

// Classifier applies the configured rules and the layers table, and
// weighs the events of a span.
type Classifier struct {
	// table is the configured rules (first, over the record's own layer)
	// followed by layers.Default: the one place an event's layer is
	// decided.
	table      layers.Table
	configured int // how many rows of table are configured rules
	// overEvents are the events a row over the record's own layer may
	// match: any other event with a layer keeps it, without building
	// its facts.
	overEvents []string
	th         Thresholds
}

// New returns a classifier; overrides are tried before anything else.
func New(overrides []Rule, th Thresholds) *Classifier {
	t := make(layers.Table, 0, len(overrides)+len(layers.Default))
	for i := range overrides {
		t = append(t, overrides[i].row())
	}
	t = append(t, layers.Default...)
	var over []string
	for i := range t {
		if t[i].OverRecord && !slices.Contains(over, t[i].Event) {
			over = append(over, t[i].Event)
		}
	}
	return &Classifier{table: t, configured: len(overrides), overEvents: over, th: th}
}

// LayerOf is the layer e is evidence for; "" when it is evidence for none.
func (c *Classifier) LayerOf(e *kevent.Event) string {
	l, _ := c.resolve(e)
	return l
}

// resolve is e's layer, and whether a configured rule decided it.
func (c *Classifier) resolve(e *kevent.Event) (layer string, configured bool) {
	if e.Layer != "" && !slices.Contains(c.overEvents, e.Name) {
		return e.Layer, false
	}
	var f layers.Facts
	e.Facts(&f)
	l, row := c.table.Resolve(&f)
	return l, row >= 0 && row < c.configured
}

// VirtioBacked reports a block IO on a device (a loop device) whose
// backing disk is a virtio disk.
func VirtioBacked(e *kevent.Event) bool {
	return e.Name == contract.EventBlockIO && e.Detail != nil && layers.VirtioDisk(e.Detail.BackingDevice)
}

// layerOrder is the stack order: ties go to the innermost layer.
var layerOrder = [numLayers]string{contract.LayerL4, contract.LayerL3, contract.LayerL2, contract.LayerL1, contract.LayerL0, contract.LayerNetwork}

const numLayers = 6

func layerIndex(l string) int {
	for i, x := range layerOrder {
		if x == l {
			return i
		}
	}
	return -1
}
