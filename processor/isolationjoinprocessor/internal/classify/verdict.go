package classify

import (
	"cmp"
	"slices"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// Evidence are the sums written on the span.
type Evidence struct {
	Retransmits    int64
	SrttUs         int64 // the largest smoothed RTT seen
	SKBDrops       int64
	ThrottledMs    float64
	SchedDelayMs   float64
	SyscallSlowMs  float64
	BlockIOSlowMs  float64
	ThrottlePeriod int64
}

// NonZero is how many of the sums written on a span are non-zero (the
// span attributes the processor writes for them).
func (ev *Evidence) NonZero() int {
	n := 0
	for _, c := range [...]bool{
		ev.Retransmits > 0, ev.SrttUs > 0, ev.SKBDrops > 0,
		ev.ThrottledMs > 0, ev.SchedDelayMs > 0, ev.SyscallSlowMs > 0, ev.BlockIOSlowMs > 0,
	} {
		if c {
			n++
		}
	}
	return n
}

// Attributed is one event with its layer and the time charged to it.
type Attributed struct {
	Event  *kevent.Event
	Layer  string
	TimeNs int64
}

// Verdict is the classification of one span.
type Verdict struct {
	Layer    string
	Cause    string
	Evidence Evidence
	Events   []Attributed // the events that weigh, oldest first
}

// Verdict classifies events joined to a span that ran over [start, end]
// (its own bounds, not the join window widened by the slack: the slack
// finds events despite clock skew, it does not make their time the span's).
func (c *Classifier) Verdict(events []*kevent.Event, start, end int64) Verdict {
	return c.VerdictInto(events, start, end, nil)
}

// VerdictInto is Verdict with v.Events appended to buf[:0]: a caller that
// classifies span after span reuses one buffer instead of allocating one
// per span (v.Events is only valid until the next call with the same buf).
func (c *Classifier) VerdictInto(events []*kevent.Event, from, to int64, buf []Attributed) Verdict {
	return c.VerdictIO(events, from, to, buf, "")
}

// VerdictIO is VerdictInto for a span that ran while the node's shared disk
// was slow: ioLayer (non-empty) is the layer of that disk, and the span's
// own slow IO syscall bodies (kevent.Event.DiskWait: fsync and the like, which the
// receiver calls app when no IO limit applies) wait for that disk, so they
// are evidence for ioLayer. Configured rules still win.
func (c *Classifier) VerdictIO(events []*kevent.Event, from, to int64, buf []Attributed, ioLayer string) Verdict {
	if len(events) == 0 {
		// Most spans of a healthy node: nothing to weigh, and the answer
		// conclude would give after zeroing and ranking empty sums.
		return Verdict{Layer: contract.LayerApp, Cause: noEvidence(0), Events: buf[:0]}
	}
	if to < from {
		to = from
	}
	var v Verdict
	loss := c.lossOf(events, &v.Evidence)
	if cap(buf) < len(events) {
		buf = make([]Attributed, 0, max(len(events), 2*cap(buf)))
	}
	v.Events = buf[:0]
	var perLayer, measured [numLayers]int64
	// Waits with a duration, counted as their union (waits of several
	// threads at the same time delay the span's request once).
	var spanBuf, thrBuf [16]ival
	spans := spanBuf[:0]
	// Per-thread throttled waits (kernel.cgroup.throttle with a duration,
	// no interval): the threads of one process wait for the same unthrottle,
	// so their overlapping waits stalled the span once.
	throttled := thrBuf[:0]
	var thrIdxBuf [16]int
	thrIdx := thrIdxBuf[:0] // each throttled wait's position in v.Events
	for _, e := range events {
		layer := c.layerIn(e, ioLayer, loss.dropLayer)
		t := c.chargedTime(e, events, from, to)
		if e.Name == contract.EventTCPConnection && loss.retransmits == 0 {
			v.Evidence.Retransmits += max(e.D().Retransmits, 0)
		}
		if layer == contract.LayerApp || layer == "" {
			// Not evidence for any layer (an idle wait the receiver or a
			// rule calls the application's own): it weighs nothing.
			continue
		}
		c.sum(&v.Evidence, e, t)
		li := layerIndex(layer)
		if e.Name == contract.EventCgroupThrottle && t > 0 && (e.Detail == nil || e.Detail.IntervalNs == 0) && li >= 0 {
			throttled = append(throttled, ival{li, max(e.Time-e.DurationNs, from), min(e.Time, to)})
			thrIdx = append(thrIdx, len(v.Events)) // appended below: t > 0 and a layer
		}
		if (t == 0 && e.Name != contract.EventSKBDrop) || li < 0 {
			continue
		}
		v.Events = append(v.Events, Attributed{Event: e, Layer: layer, TimeNs: t})
		perLayer[li] += t
		switch weighOf(e) {
		case measuredTime:
			measured[li] += t
		case measuredWait:
			spans = append(spans, ival{li, max(e.Time-e.DurationNs, from), min(e.Time, to)})
		}
	}
	unionInto(&measured, spans)
	if len(throttled) > 1 {
		dedupeThrottled(&v, &perLayer, throttled, thrIdx)
	}
	v.Evidence.Retransmits += loss.retransmits
	// Fixed costs add up past the span (hundreds of fast retransmits on
	// one connection): no layer can take more than the whole window.
	for l, x := range perLayer {
		perLayer[l] = min(x, to-from)
	}
	if len(v.Events) > 1 {
		slices.SortStableFunc(v.Events, func(a, b Attributed) int { return cmp.Compare(a.Event.Time, b.Event.Time) })
	}
	c.conclude(&v, &perLayer, &measured, len(events), from, to)
	return v
}

// loss is what the span's loss events say before any is weighed.
type loss struct {
	retransmits int64  // retransmit events
	dropLayer   string // the layer with the most local drops, "" when none
}

// lossOf counts the retransmits and the drops of events (and notes the
// largest smoothed RTT): a retransmit of a segment dropped on this node
// is that layer's doing, not the path's, so the layer with the most local
// drops claims the retransmits.
func (c *Classifier) lossOf(events []*kevent.Event, ev *Evidence) loss {
	var drops [numLayers]int
	var l loss
	for _, e := range events {
		switch e.Name {
		case contract.EventTCPRetransmit:
			l.retransmits++
		case contract.EventSKBDrop:
			ev.SKBDrops++
			if i := layerIndex(c.LayerOf(e)); i >= 0 && layerOrder[i] != contract.LayerNetwork {
				drops[i]++
			}
		}
		if e.Detail != nil && e.Detail.SrttUs > ev.SrttUs {
			ev.SrttUs = e.Detail.SrttUs
		}
	}
	most := 0
	for i, n := range drops {
		if n > most {
			l.dropLayer, most = layerOrder[i], n
		}
	}
	return l
}

// layerIn is e's layer within the span: its own (LayerOf), the slow
// disk's for an IO syscall body unless a configured rule decides, and a
// retransmit's is the local drops' layer when there are drops.
func (c *Classifier) layerIn(e *kevent.Event, ioLayer, dropLayer string) string {
	layer, configured := c.resolve(e)
	if ioLayer != "" && e.DiskWait() && !configured {
		layer = ioLayer
	}
	if e.Name == contract.EventTCPRetransmit && dropLayer != "" && layer == contract.LayerNetwork {
		layer = dropLayer
	}
	return layer
}

// weigh is how an event's time counts toward a layer's measured time.
type weigh uint8

const (
	prorated     weigh = iota // inferred, not measured
	measuredTime              // measured as charged
	measuredWait              // a measured wait: counted in the union of the waits
)

func weighOf(e *kevent.Event) weigh {
	switch {
	case e.Name == contract.EventSyscallSlow && e.Detail != nil && e.Detail.SyscallPhase == "sandbox":
		// A sandbox's syscall traps: each measured in the kernel, the
		// window (a burst of the process's work) only bounds where.
		return measuredTime
	case e.Detail != nil && e.Detail.IntervalNs > 0:
		return prorated
	case e.Name == contract.EventCgroupThrottle && e.PID > 0:
		// A thread of the span's process sat throttled: measured for
		// that thread, inferred for the span (its own thread is not
		// known; it may have been waiting for IO meanwhile). Weighed
		// like a prorated share.
		return prorated
	case e.DurationNs > 0:
		return measuredWait
	}
	return measuredTime
}

// conclude picks the verdict's layer from the time per layer and writes
// its cause.
func (c *Classifier) conclude(v *Verdict, perLayer, measured *[numLayers]int64, nEvents int, from, to int64) {
	var rankBuf [numLayers]int
	ranked := rank(perLayer, rankBuf[:0])
	if len(ranked) == 0 {
		v.Layer = contract.LayerApp
		v.Cause = noEvidence(nEvents)
		return
	}
	v.Layer = layerOrder[ranked[0]]
	top := perLayer[ranked[0]]
	weak := top < int64(c.th.MinTime) || top < int64(c.th.MinShare*float64(to-from)) ||
		(min(measured[ranked[0]], top) < int64(c.th.MinTime) && top < int64(c.th.MinProratedTime))
	if weak {
		// The evidence does not explain the span's delay: listed, not a verdict.
		v.Layer = contract.LayerApp
	}
	// A layer whose time rounds to nothing at the cause's resolution
	// says nothing a reader can use ("L1: cpu steal 0ms (0ms)", on most
	// spans of a guest whose threads lose microseconds to steal): it is
	// not listed. A verdict's own layer always is.
	keep := 0
	for i, l := range ranked {
		if (i == 0 && !weak) || perLayer[l] >= int64(causeResolution) {
			ranked[keep] = l
			keep++
		}
	}
	if keep == 0 {
		v.Cause = noEvidence(nEvents)
		return
	}
	v.Cause = cause(v.Events, perLayer, ranked[:keep], weak, top, to-from)
}

// rank orders the layers with time (indexes into layerOrder), most time
// first, ties in stack order.
func rank(perLayer *[numLayers]int64, out []int) []int {
	for l, t := range perLayer {
		if t > 0 {
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(a, b int) int { return cmp.Compare(perLayer[b], perLayer[a]) })
	return out
}
