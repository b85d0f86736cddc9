// Package classify turns the kernel events joined to a span into a verdict
// (docs/design.md §5): each event is given a layer by the rule table and a share of
// the span's time; the layer with the most time wins.
package classify

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// Rule maps an event to a layer. Every Match entry must equal the event's
// attribute (kevent.MatchKeys lists the keys a rule may test).
type Rule struct {
	Event string
	Match map[string]string
	Layer string
}

func (r *Rule) matches(e *kevent.Event) bool {
	if r.Event != e.Name {
		return false
	}
	for k, v := range r.Match {
		if e.Attr(k) != v {
			return false
		}
	}
	return true
}

// DefaultRules is the rule table of docs/design.md §5, used for events whose record
// carries no isolation.layer of its own. First match wins.
var DefaultRules = []Rule{
	// The seccomp-notify / ptrace slow path runs before the syscall: a sandbox.
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallPhase: "entry"}, Layer: contract.LayerL4},
	// A sandbox's syscall traps (gVisor's ptrace platform: the Sentry runs
	// every syscall of the stub thread it traces).
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallPhase: "sandbox"}, Layer: contract.LayerL4},
	// A thread parked in an idle wait (a lock, a poll loop, a sleep) is the
	// application waiting for itself, whatever isolates it: not evidence.
	// Receivers tag these app themselves; this covers records that do not.
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "futex"}, Layer: contract.LayerApp},
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "epoll_wait"}, Layer: contract.LayerApp},
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "epoll_pwait"}, Layer: contract.LayerApp},
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "poll"}, Layer: contract.LayerApp},
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "ppoll"}, Layer: contract.LayerApp},
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "select"}, Layer: contract.LayerApp},
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "pselect6"}, Layer: contract.LayerApp},
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "nanosleep"}, Layer: contract.LayerApp},
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "clock_nanosleep"}, Layer: contract.LayerApp},
	{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSeccompMode: "2"}, Layer: contract.LayerL4},
	// A slow body outside a sandbox is the IO/CPU limit of the container.
	{Event: contract.EventSyscallSlow, Layer: contract.LayerL3},
	{Event: contract.EventCgroupThrottle, Layer: contract.LayerL3},
	{Event: contract.EventOOMKill, Layer: contract.LayerL3},
	{Event: contract.EventConntrackInsertFailed, Layer: contract.LayerL3},
	{Event: contract.EventSchedDelay, Layer: contract.LayerL3},
	{Event: contract.EventSKBDrop, Match: map[string]string{contract.AttrSKBDropReason: "NETFILTER_DROP"}, Layer: contract.LayerL3},
	{Event: contract.EventSKBDrop, Layer: contract.LayerL3},
	{Event: contract.EventNetTxTimeout, Layer: contract.LayerL2},
	{Event: contract.EventCPUSteal, Layer: contract.LayerL1},
	{Event: contract.EventBlockIO, Layer: contract.LayerL1},
	// Loss beyond the node, unless a local drop explains it (see Verdict).
	{Event: contract.EventTCPRetransmit, Layer: contract.LayerNetwork},
	{Event: contract.EventTCPReset, Layer: contract.LayerNetwork},
}

// Thresholds say how much an event weighs.
type Thresholds struct {
	// EventCost is the time charged for an event that carries no duration
	// (a retransmit without a measured tcp.retransmit.wait_ns waits at
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

// Classifier applies configured rules, then the event's own layer, then
// the default table.
type Classifier struct {
	overrides []Rule
	th        Thresholds
}

// New returns a classifier; overrides are tried before anything else.
func New(overrides []Rule, th Thresholds) *Classifier {
	return &Classifier{overrides: overrides, th: th}
}

// LayerOf is the layer e is evidence for; "" when it is evidence for none
// (a closed connection's statistics).
func (c *Classifier) LayerOf(e *kevent.Event) string {
	for i := range c.overrides {
		if c.overrides[i].matches(e) {
			return c.overrides[i].Layer
		}
	}
	if VirtioBacked(e) && e.Layer != contract.LayerApp {
		// A loop device's latency is its backing disk's queue: on a
		// virtio disk, the paravirtual block path (docs/design.md §5: virtio-blk
		// queue latency), whatever the receiver saw at the loop device.
		return contract.LayerL2
	}
	if e.Layer != "" {
		return e.Layer
	}
	for i := range DefaultRules {
		if DefaultRules[i].matches(e) {
			return DefaultRules[i].Layer
		}
	}
	return ""
}

// VirtioBacked reports a block IO on a device (a loop device) whose
// backing disk is a virtio disk (vd*).
func VirtioBacked(e *kevent.Event) bool {
	return e.Name == contract.EventBlockIO && e.Detail != nil && strings.HasPrefix(e.Detail.BackingDevice, "vd")
}

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

var layerOrder = [numLayers]string{contract.LayerL4, contract.LayerL3, contract.LayerL2, contract.LayerL1, contract.LayerL0, contract.LayerNetwork}

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
// own slow IO syscall bodies (IOSyscall: fsync and the like, which the
// receiver calls app when no IO limit applies) wait for that disk, so they
// are evidence for ioLayer. Configured rules still win.
func (c *Classifier) VerdictIO(events []*kevent.Event, from, to int64, buf []Attributed, ioLayer string) Verdict {
	if to < from {
		to = from
	}
	var v Verdict
	var dropLayers [numLayers]int
	retransmitEvents := int64(0)
	for _, e := range events {
		switch e.Name {
		case contract.EventTCPRetransmit:
			retransmitEvents++
		case contract.EventSKBDrop:
			v.Evidence.SKBDrops++
			if l := layerIndex(c.LayerOf(e)); l >= 0 && layerOrder[l] != contract.LayerNetwork {
				dropLayers[l]++
			}
		}
		if e.Detail != nil && e.Detail.SrttUs > v.Evidence.SrttUs {
			v.Evidence.SrttUs = e.Detail.SrttUs
		}
	}
	// A retransmit of a segment dropped on this node is that layer's doing,
	// not the path's: charge it to the layer with the most local drops.
	dropLayer, most := "", 0
	for i, n := range dropLayers {
		if n > most {
			dropLayer, most = layerOrder[i], n
		}
	}
	var perLayer, measured [numLayers]int64
	var spanBuf, thrBuf [16]ival
	spans := spanBuf[:0]
	// Per-thread throttled waits (kernel.cgroup.throttle with a duration,
	// no interval): the threads of one process wait for the same unthrottle,
	// so their overlapping waits stalled the span once.
	throttled := thrBuf[:0]
	var thrIdxBuf [16]int
	thrIdx := thrIdxBuf[:0] // each throttled wait's position in v.Events
	if cap(buf) < len(events) {
		buf = make([]Attributed, 0, max(len(events), 2*cap(buf)))
	}
	v.Events = buf[:0]
	for _, e := range events {
		layer := c.LayerOf(e)
		if ioLayer != "" && IOSyscall(e) && !c.overridden(e) {
			layer = ioLayer
		}
		t := c.timeOf(e, from, to)
		switch e.Name {
		case contract.EventTCPRetransmit:
			if dropLayer != "" && layer == contract.LayerNetwork {
				layer = dropLayer
			}
			if t > 0 && e.DurationNs <= 0 {
				// No measured wait on the record: the drop that caused
				// it, when seen, dates the loss.
				if d := lastDropBefore(events, e); d != nil {
					// The segment was lost at the drop and recovered at
					// this retransmit: that is the time the loss cost.
					t = max(min(e.Time, to)-max(d.Time, from), 0)
				}
			}
		case contract.EventSKBDrop:
			// A drop alone costs no time: the delay is the loss recovery,
			// the retransmit it causes (charged above).
			t = 0
		case contract.EventTCPConnection:
			if retransmitEvents == 0 {
				v.Evidence.Retransmits += max(e.D().Retransmits, 0)
			}
		}
		if layer == contract.LayerApp || layer == "" {
			// Not evidence for any layer (an idle wait the receiver or a
			// rule calls the application's own): it weighs nothing.
			continue
		}
		c.sum(&v.Evidence, e, t)
		if e.Name == contract.EventCgroupThrottle && t > 0 && (e.Detail == nil || e.Detail.IntervalNs == 0) && layerIndex(layer) >= 0 {
			throttled = append(throttled, ival{layerIndex(layer), max(e.Time-e.DurationNs, from), min(e.Time, to)})
			thrIdx = append(thrIdx, len(v.Events)) // appended below: t > 0 and a layer
		}
		if t == 0 && e.Name != contract.EventSKBDrop {
			continue
		}
		li := layerIndex(layer)
		if li < 0 {
			continue
		}
		v.Events = append(v.Events, Attributed{Event: e, Layer: layer, TimeNs: t})
		perLayer[li] += t
		switch {
		case e.Name == contract.EventSyscallSlow && e.Detail != nil && e.Detail.SyscallPhase == "sandbox":
			// A sandbox's syscall traps: each measured in the kernel, the
			// window (a burst of the process's work) only bounds where.
			measured[li] += t
		case e.Detail != nil && e.Detail.IntervalNs > 0:
			// prorated: not measured
		case e.Name == contract.EventCgroupThrottle && e.PID > 0:
			// A thread of the span's process sat throttled: measured for
			// that thread, inferred for the span (its own thread is not
			// known; it may have been waiting for IO meanwhile). Weighed
			// like a prorated share.
		case e.DurationNs > 0:
			// Waits of several threads at the same time delay the span's
			// request once: measured time is the union of the intervals.
			spans = append(spans, ival{li, max(e.Time-e.DurationNs, from), min(e.Time, to)})
		default:
			measured[li] += t
		}
	}
	unionInto(&measured, spans)
	if len(throttled) > 1 {
		dedupeThrottled(&v, &perLayer, throttled, thrIdx)
	}
	v.Evidence.Retransmits += retransmitEvents
	// Fixed costs add up past the span (hundreds of fast retransmits on
	// one connection): no layer can take more than the whole window.
	for l, t := range perLayer {
		perLayer[l] = min(t, to-from)
	}
	if len(v.Events) > 1 {
		slices.SortStableFunc(v.Events, func(a, b Attributed) int { return cmp.Compare(a.Event.Time, b.Event.Time) })
	}
	var rankBuf [numLayers]int
	ranked := rank(&perLayer, rankBuf[:0])
	if len(ranked) == 0 {
		v.Layer = contract.LayerApp
		if len(events) == 0 {
			v.Cause = "no kernel evidence in the span's window: time spent in the application"
		} else {
			v.Cause = "no layer evidence in the span's window (" + strconv.Itoa(len(events)) + " kernel events): time spent in the application"
		}
		return v
	}
	v.Layer = layerOrder[ranked[0]]
	var b strings.Builder
	top := perLayer[ranked[0]]
	weak := top < int64(c.th.MinTime) || top < int64(c.th.MinShare*float64(to-from)) ||
		(min(measured[ranked[0]], top) < int64(c.th.MinTime) && top < int64(c.th.MinProratedTime))
	if weak {
		b.Grow(192)
	} else {
		b.Grow(96)
	}
	if weak {
		// The evidence does not explain the span's delay: listed, not a verdict.
		v.Layer = contract.LayerApp
		b.WriteString("kernel evidence explains too little of the span (")
		ms(&b, top)
		b.WriteString(" of ")
		ms(&b, to-from)
		b.WriteString("): time spent in the application; ")
	}
	for i, l := range ranked {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(layerOrder[l])
		b.WriteString(": ")
		describe(&b, v.Events, layerOrder[l])
		b.WriteString(" (")
		ms(&b, perLayer[l])
		b.WriteString(")")
	}
	v.Cause = b.String()
	return v
}

// ival is the part of a measured wait inside the span, for one layer.
type ival struct {
	layer      int
	start, end int64
}

// unionInto adds to measured, per layer, the length of the union of the
// intervals.
func unionInto(measured *[numLayers]int64, iv []ival) {
	if len(iv) == 0 {
		return
	}
	slices.SortFunc(iv, func(a, b ival) int {
		if c := cmp.Compare(a.layer, b.layer); c != 0 {
			return c
		}
		return cmp.Compare(a.start, b.start)
	})
	cur := iv[0]
	for _, x := range iv[1:] {
		if x.layer == cur.layer && x.start <= cur.end {
			cur.end = max(cur.end, x.end)
			continue
		}
		if cur.end > cur.start {
			measured[cur.layer] += cur.end - cur.start
		}
		cur = x
	}
	if cur.end > cur.start {
		measured[cur.layer] += cur.end - cur.start
	}
}

// overridden reports whether a configured rule decides e's layer.
func (c *Classifier) overridden(e *kevent.Event) bool {
	for i := range c.overrides {
		if c.overrides[i].matches(e) {
			return true
		}
	}
	return false
}

// lastDropBefore is the latest drop on r's connection (either direction)
// at or before the retransmit r, nil when none was seen.
func lastDropBefore(events []*kevent.Event, r *kevent.Event) *kevent.Event {
	if !r.Local.IsValid() || !r.Peer.IsValid() {
		return nil
	}
	var last *kevent.Event
	for _, d := range events {
		if d.Name != contract.EventSKBDrop || d.Time > r.Time {
			continue
		}
		same := (d.Local == r.Local && d.Peer == r.Peer) || (d.Local == r.Peer && d.Peer == r.Local)
		if same && (last == nil || d.Time > last.Time) {
			last = d
		}
	}
	return last
}

// IOSyscall reports a slow syscall body that waits for a disk: the flush
// family (fsync, fdatasync, sync_file_range, syncfs, msync) and positional
// writes, which only files take (a plain write may be a socket's).
func IOSyscall(e *kevent.Event) bool {
	if e.Name != contract.EventSyscallSlow || e.Detail == nil || e.Detail.SyscallPhase == "entry" {
		return false
	}
	switch e.Detail.SyscallName {
	case "fsync", "fdatasync", "sync_file_range", "syncfs", "sync", "msync", "pwrite64", "pwritev", "pwritev2":
		return true
	}
	return false
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

const numLayers = 6

func layerIndex(l string) int {
	for i, x := range layerOrder {
		if x == l {
			return i
		}
	}
	return -1
}

// timeOf is the time e takes out of the span [from, to]: the overlap of
// the interval it reports (it is stamped at its end) with the span; a
// throttling record over a longer interval, its throttled time in
// proportion to the interval's overlap with the span; or, for an event
// that has no duration and happened inside the span, the fixed cost
// capped at the span's duration. An instantaneous event outside the span
// (a drop after the response) costs the span nothing.
func (c *Classifier) timeOf(e *kevent.Event, from, to int64) int64 {
	if e.Name == contract.EventTCPRetransmit && e.DurationNs > 0 {
		// The receiver measured what the segment waited since its
		// previous transmission: the span waited for the part of that
		// inside it (a pooled connection's retransmit of another
		// exchange's segment, or a probe's few milliseconds, is not a
		// 200ms loss of this span).
		return max(min(e.Time, to)-max(e.Time-e.DurationNs, from), 0)
	}
	var minimum time.Duration
	switch e.Name {
	case contract.EventSchedDelay:
		minimum = c.th.MinSchedDelay
	case contract.EventSyscallSlow:
		minimum = c.th.MinSyscall
	case contract.EventBlockIO:
		minimum = c.th.MinBlockLatency
	case contract.EventCgroupThrottle, contract.EventCPUSteal:
	case contract.EventTCPConnection:
		return 0
	default:
		if e.Time < from || e.Time > to {
			return 0
		}
		return min(int64(c.th.EventCost), to-from)
	}
	if e.DurationNs < int64(minimum) || e.DurationNs <= 0 {
		return 0
	}
	if d := e.Detail; d != nil && d.IntervalNs > 0 {
		// The record sums a period: [IntervalStart, +IntervalNs].
		istart, iend := d.IntervalStart, d.IntervalStart+d.IntervalNs
		ov := min(iend, to) - max(istart, from)
		if ov <= 0 {
			return 0
		}
		return min(int64(float64(e.DurationNs)*float64(ov)/float64(d.IntervalNs)), ov)
	}
	start, end := max(e.Time-e.DurationNs, from), min(e.Time, to)
	if end <= start {
		// Stamped inside the window but reported as ending there: at least
		// the part that the event's own timestamp places in the window.
		return 0
	}
	return end - start
}

func (c *Classifier) sum(ev *Evidence, e *kevent.Event, t int64) {
	switch e.Name {
	case contract.EventCgroupThrottle:
		ev.ThrottledMs += nsToMs(t)
		ev.ThrottlePeriod += max(e.D().ThrottledPeriods, 0)
	case contract.EventSchedDelay:
		ev.SchedDelayMs += nsToMs(t)
	case contract.EventSyscallSlow:
		ev.SyscallSlowMs += nsToMs(t)
	case contract.EventBlockIO:
		ev.BlockIOSlowMs += nsToMs(t)
	}
}

func nsToMs(ns int64) float64 { return float64(ns) / 1e6 }

func ms(b *strings.Builder, ns int64) {
	var buf [32]byte
	// A tenth of a millisecond is all a human line needs.
	tenths := math.Round(nsToMs(ns) * 10)
	if tenths >= 0 && tenths < 1<<53 {
		// What AppendFloat(tenths/10, 'f', -1) writes, without the
		// shortest-representation search: whole part, then the tenth
		// unless it is zero.
		t := int64(tenths)
		out := strconv.AppendInt(buf[:0], t/10, 10)
		if d := t % 10; d != 0 {
			out = append(out, '.', byte('0'+d))
		}
		b.Write(out)
	} else {
		b.Write(strconv.AppendFloat(buf[:0], tenths/10, 'f', -1, 64))
	}
	b.WriteString("ms")
}

// describe writes the human part of the cause for one layer to b. Spans
// carry few events: a linear scan beats a map here.
func describe(b *strings.Builder, events []Attributed, layer string) {
	type agg struct {
		name, phase string
		n           int
		t, periods  int64
		first       *kevent.Event // its detail names the group
	}
	var buf [8]agg
	aggs := buf[:0]
	for _, a := range events {
		if a.Layer != layer {
			continue
		}
		e := a.Event
		phase := ""
		if e.Name == contract.EventSyscallSlow && e.Detail != nil {
			phase = e.Detail.SyscallPhase
		}
		i := 0
		for i < len(aggs) && (aggs[i].name != e.Name || aggs[i].phase != phase) {
			i++
		}
		if i == len(aggs) {
			aggs = append(aggs, agg{name: e.Name, phase: phase, first: e})
		}
		g := &aggs[i]
		g.n++
		g.t += a.TimeNs
		if e.Detail != nil {
			g.periods += max(e.Detail.ThrottledPeriods, 0)
		}
	}
	for i, g := range aggs {
		if i > 0 {
			b.WriteString(", ")
		}
		switch g.name {
		case contract.EventTCPRetransmit:
			plural(b, g.n, "tcp retransmit")
		case contract.EventTCPReset:
			plural(b, g.n, "tcp reset")
		case contract.EventSKBDrop:
			plural(b, g.n, "packet drop")
		case contract.EventCgroupThrottle:
			b.WriteString("cgroup cpu throttled ")
			ms(b, g.t)
			if g.periods > 0 {
				b.WriteString(" (")
				plural(b, int(g.periods), "period")
				b.WriteString(")")
			}
		case contract.EventSchedDelay:
			b.WriteString("run-queue delay ")
			ms(b, g.t)
		case contract.EventSyscallSlow:
			switch g.phase {
			case "entry":
				b.WriteString("syscall entry wait ")
			case "sandbox":
				b.WriteString("sandbox syscall traps ")
			default:
				b.WriteString("slow syscalls ")
			}
			ms(b, g.t)
		case contract.EventBlockIO:
			b.WriteString("block io ")
			ms(b, g.t)
		case contract.EventCPUSteal:
			b.WriteString("cpu steal ")
			ms(b, g.t)
		case contract.EventOOMKill:
			b.WriteString("memcg OOM kill")
		case contract.EventNetTxTimeout:
			b.WriteString("tx timeout")
		case contract.EventConntrackInsertFailed:
			plural(b, g.n, "conntrack insert failure")
		default:
			plural(b, g.n, g.name)
		}
		writeDetail(b, g.first)
	}
}

// writeDetail writes what names the event's object (peer, reason,
// syscall, device…), straight into b: no string per event.
func writeDetail(b *strings.Builder, e *kevent.Event) {
	d := e.Detail
	if d == nil {
		d = &noDetail
	}
	switch e.Name {
	case contract.EventTCPRetransmit, contract.EventTCPReset:
		if e.Peer.IsValid() {
			b.WriteString(" to ")
			var buf [64]byte
			b.Write(e.Peer.AppendTo(buf[:0]))
		}
	case contract.EventSKBDrop:
		paren(b, d.DropReason)
	case contract.EventSyscallSlow:
		paren(b, d.SyscallName)
	case contract.EventBlockIO:
		on(b, d.BlockDevice)
	case contract.EventOOMKill:
		paren(b, e.Exe)
	case contract.EventNetTxTimeout:
		on(b, d.Interface)
	}
}

var noDetail kevent.Detail

func paren(b *strings.Builder, s string) {
	if s != "" {
		b.WriteString(" (")
		b.WriteString(s)
		b.WriteByte(')')
	}
}

func on(b *strings.Builder, s string) {
	if s != "" {
		b.WriteString(" on ")
		b.WriteString(s)
	}
}

func plural(b *strings.Builder, n int, what string) {
	b.WriteString(strconv.Itoa(n))
	b.WriteByte(' ')
	b.WriteString(what)
	if n != 1 {
		b.WriteByte('s')
	}
}
