package classify

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

const msec = int64(time.Millisecond)

func TestLayerOfPrecedence(t *testing.T) {
	sched := &kevent.Event{Name: contract.EventSchedDelay}
	schedL1 := &kevent.Event{Name: contract.EventSchedDelay, Layer: contract.LayerL1}
	entry := &kevent.Event{Name: contract.EventSyscallSlow, Detail: &kevent.Detail{SyscallPhase: "entry", SyscallName: "openat"}}
	body := &kevent.Event{Name: contract.EventSyscallSlow, Detail: &kevent.Detail{SyscallPhase: "body", SyscallName: "fsync"}}
	conn := &kevent.Event{Name: contract.EventTCPConnection}

	c := New(nil, DefaultThresholds)
	// The layers table, as the receiver applies it: without the CPU limit
	// (which the record does not carry) a run-queue delay is the node's
	// contention, and a slow body without an IO limit the process's own.
	assert.Equal(t, contract.LayerApp, c.LayerOf(sched), "default table")
	assert.Equal(t, contract.LayerL1, c.LayerOf(schedL1), "the record's own layer beats the table")
	assert.Equal(t, contract.LayerL4, c.LayerOf(entry))
	assert.Equal(t, contract.LayerApp, c.LayerOf(body))
	assert.Equal(t, contract.LayerNetwork, c.LayerOf(conn), "connection statistics: network (they weigh no time)")

	c = New([]Rule{
		{Event: contract.EventSchedDelay, Layer: contract.LayerL2},
		{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "fsync"}, Layer: contract.LayerL1},
	}, DefaultThresholds)
	assert.Equal(t, contract.LayerL2, c.LayerOf(schedL1), "a configured rule beats the record's layer")
	assert.Equal(t, contract.LayerL1, c.LayerOf(body), "match on an attribute")
	assert.Equal(t, contract.LayerL4, c.LayerOf(entry), "a rule that does not match changes nothing")
}

func TestTimeIsTheOverlapWithTheWindow(t *testing.T) {
	c := New(nil, DefaultThresholds)
	from, to := int64(1000*msec), int64(1300*msec)
	throttle := func(end, dur int64) *kevent.Event {
		return &kevent.Event{Name: contract.EventCgroupThrottle, Time: end, DurationNs: dur}
	}
	assert.Equal(t, 100*msec, c.timeOf(throttle(1200*msec, 100*msec), from, to), "inside")
	assert.Equal(t, 50*msec, c.timeOf(throttle(1050*msec, 100*msec), from, to), "started before the window")
	assert.Equal(t, 300*msec, c.timeOf(throttle(1300*msec, 5000*msec), from, to), "longer than the window")
	sched := &kevent.Event{Name: contract.EventSchedDelay, Time: 1200 * msec, DurationNs: msec / 2}
	assert.Zero(t, c.timeOf(sched, from, to), "under min_sched_delay")
	assert.Equal(t, int64(DefaultThresholds.EventCost), c.timeOf(&kevent.Event{Name: contract.EventTCPRetransmit, Time: 1100 * msec}, from, to))
}

func TestVerdict(t *testing.T) {
	c := New(nil, DefaultThresholds)
	peer := netip.MustParseAddrPort("198.18.64.2:8080")
	from, to := int64(0), int64(300*msec)
	t.Run("fixed costs cannot exceed the window", func(t *testing.T) {
		var evs []*kevent.Event
		for i := range 10 {
			evs = append(evs, &kevent.Event{Name: contract.EventTCPRetransmit, Time: int64(i) * msec, Peer: peer, Layer: contract.LayerNetwork})
		}
		v := c.Verdict(evs, from, to)
		assert.Equal(t, contract.LayerNetwork, v.Layer)
		assert.Equal(t, int64(10), v.Evidence.Retransmits)
		assert.Equal(t, "network: 10 tcp retransmits to 198.18.64.2:8080 (300ms)", v.Cause)
	})
	t.Run("virtio drops claim the retransmits", func(t *testing.T) {
		evs := []*kevent.Event{
			{Name: contract.EventTCPRetransmit, Time: 10 * msec, Peer: peer, Layer: contract.LayerNetwork},
			{Name: contract.EventSKBDrop, Time: 5 * msec, Detail: &kevent.Detail{DropReason: "QDISC_DROP"}, Layer: contract.LayerL2},
		}
		v := c.Verdict(evs, from, to)
		assert.Equal(t, contract.LayerL2, v.Layer)
		assert.Equal(t, "L2: 1 packet drop (QDISC_DROP), 1 tcp retransmit to 198.18.64.2:8080 (200ms)", v.Cause)
	})
	t.Run("connection statistics fill the sums without a layer", func(t *testing.T) {
		v := c.Verdict([]*kevent.Event{{Name: contract.EventTCPConnection, Time: 10 * msec, Detail: &kevent.Detail{Retransmits: 3, SrttUs: 1500}}}, from, to)
		assert.Equal(t, contract.LayerApp, v.Layer)
		assert.Equal(t, int64(3), v.Evidence.Retransmits)
		assert.Equal(t, int64(1500), v.Evidence.SrttUs)
	})
	t.Run("ties go to the innermost layer", func(t *testing.T) {
		evs := []*kevent.Event{
			// 100ms each: a share of the 300ms span above min_share.
			{Name: contract.EventCPUSteal, Time: 100 * msec, DurationNs: 100 * msec},
			{Name: contract.EventCgroupThrottle, Time: 100 * msec, DurationNs: 100 * msec},
		}
		assert.Equal(t, contract.LayerL3, c.Verdict(evs, from, to).Layer)
	})
}

func TestMsMatchesAppendFloat(t *testing.T) {
	for _, ns := range []int64{0, 1, 49_999, 50_000, 99_999, 100_000, 1_000_000, 1_250_000, 12_345_678, 200_000_000, 999_950_000, 123_456_789_012, 1 << 62} {
		var b strings.Builder
		ms(&b, ns)
		want := strconv.FormatFloat(math.Round(nsToMs(ns)*10)/10, 'f', -1, 64) + "ms"
		assert.Equal(t, want, b.String(), "ns=%d", ns)
	}
}

func TestEvidenceMustExplainTheSpan(t *testing.T) {
	c := New(nil, DefaultThresholds)
	peer := netip.MustParseAddrPort("198.18.64.2:8080")
	futex := func(at, dur int64, layer string) *kevent.Event {
		return &kevent.Event{Name: contract.EventSyscallSlow, Time: at, DurationNs: dur, Layer: layer,
			Detail: &kevent.Detail{SyscallName: "futex", SyscallPhase: "body"}}
	}
	tests := []struct {
		name       string
		start, end int64
		events     []*kevent.Event
		layer      string
		cause      string // substring; "" = not checked
		syscallMs  float64
		attributed int // v.Events
	}{
		{
			name: "an event the receiver tagged app is not evidence", start: 0, end: 300 * msec,
			events: []*kevent.Event{futex(200*msec, 150*msec, contract.LayerApp)},
			layer:  contract.LayerApp, cause: "no layer evidence",
		},
		{
			name: "an untagged idle wait (futex) maps to app by the rule table", start: 0, end: 300 * msec,
			events: []*kevent.Event{futex(200*msec, 150*msec, "")},
			layer:  contract.LayerApp,
		},
		{
			name: "an untagged event no rule maps is not evidence", start: 0, end: 300 * msec,
			events: []*kevent.Event{{Name: "kernel.unknown", Time: 100 * msec}},
			layer:  contract.LayerApp,
		},
		{
			name: "app events do not move a real verdict", start: 0, end: 300 * msec,
			events: []*kevent.Event{
				futex(250*msec, 250*msec, contract.LayerApp),
				{Name: contract.EventSchedDelay, Time: 200 * msec, DurationNs: 100 * msec, Layer: contract.LayerL3},
			},
			layer: contract.LayerL3, cause: "L3: run-queue delay 100ms (100ms)", attributed: 1,
		},
		{
			name: "a drop after the span's end costs nothing (slack is not a cause)", start: 0, end: 2 * msec,
			events: []*kevent.Event{{Name: contract.EventSKBDrop, Time: 50 * msec, Layer: contract.LayerNetwork, Detail: &kevent.Detail{DropReason: "QUEUE_PURGE"}}},
			layer:  contract.LayerApp, attributed: 1,
		},
		{
			name: "a retransmit before the span's start costs nothing", start: 100 * msec, end: 300 * msec,
			events: []*kevent.Event{{Name: contract.EventTCPRetransmit, Time: 50 * msec, Peer: peer, Layer: contract.LayerNetwork}},
			layer:  contract.LayerApp,
		},
		{
			name: "a retransmit inside costs the RTO, capped at the span", start: 0, end: 205 * msec,
			events: []*kevent.Event{{Name: contract.EventTCPRetransmit, Time: 5 * msec, Peer: peer, Layer: contract.LayerNetwork}},
			layer:  contract.LayerNetwork, cause: "network: 1 tcp retransmit to 198.18.64.2:8080 (200ms)", attributed: 1,
		},
		{
			name: "a retransmit inside a short span costs the span", start: 0, end: 50 * msec,
			events: []*kevent.Event{{Name: contract.EventTCPRetransmit, Time: 5 * msec, Peer: peer, Layer: contract.LayerNetwork}},
			layer:  contract.LayerNetwork, cause: "(50ms)", attributed: 1,
		},
		{
			name: "a duration counts only its overlap with the span", start: 100 * msec, end: 200 * msec,
			events: []*kevent.Event{{Name: contract.EventSyscallSlow, Time: 110 * msec, DurationNs: 100 * msec, Layer: contract.LayerL3, Detail: &kevent.Detail{SyscallName: "fsync"}}},
			// 10ms of a 100ms span: under min_share.
			layer: contract.LayerApp, cause: "explains too little of the span (10ms of 100ms)", syscallMs: 10, attributed: 1,
		},
		{
			name: "a share at min_share is a verdict", start: 0, end: 100 * msec,
			events: []*kevent.Event{{Name: contract.EventSyscallSlow, Time: 50 * msec, DurationNs: 20 * msec, Layer: contract.LayerL3, Detail: &kevent.Detail{SyscallName: "fsync"}}},
			layer:  contract.LayerL3, syscallMs: 20, attributed: 1,
		},
		{
			name: "under min_time even as the whole of a tiny span", start: 0, end: msec / 2,
			events: []*kevent.Event{{Name: contract.EventTCPReset, Time: msec / 4, Peer: peer, Layer: contract.LayerNetwork}},
			layer:  contract.LayerApp, attributed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := c.Verdict(tt.events, tt.start, tt.end)
			assert.Equal(t, tt.layer, v.Layer, v.Cause)
			if tt.cause != "" {
				assert.Contains(t, v.Cause, tt.cause)
			}
			assert.InDelta(t, tt.syscallMs, v.Evidence.SyscallSlowMs, 1e-9)
			assert.Len(t, v.Events, tt.attributed)
		})
	}
}

func TestThrottleIntervalIsProportional(t *testing.T) {
	c := New(nil, DefaultThresholds)
	// 600ms throttled over the 1s interval [1000ms, 2000ms], stamped at its end.
	ev := &kevent.Event{Name: contract.EventCgroupThrottle, Time: 2000 * msec, DurationNs: 600 * msec,
		Detail: &kevent.Detail{IntervalStart: 1000 * msec, IntervalNs: 1000 * msec}}
	tests := []struct {
		name       string
		start, end int64
		want       int64
	}{
		{"span inside the interval", 1200 * msec, 1300 * msec, 60 * msec},
		{"span overlapping its start", 900 * msec, 1100 * msec, 60 * msec},
		{"span covering it", 500 * msec, 2500 * msec, 600 * msec},
		{"span before it", 500 * msec, 900 * msec, 0},
		{"span after it", 2100 * msec, 2200 * msec, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, c.timeOf(ev, tt.start, tt.end))
		})
	}
}

func TestVirtioBackedBlockIOIsL2(t *testing.T) {
	blk := func(backing, layer string) *kevent.Event {
		return &kevent.Event{Name: contract.EventBlockIO, Layer: layer, Detail: &kevent.Detail{BlockDevice: "loop0", BackingDevice: backing}}
	}
	c := New(nil, DefaultThresholds)
	tests := []struct {
		name string
		e    *kevent.Event
		want string
	}{
		{"loop on vda, receiver said L3", blk("vda", contract.LayerL3), contract.LayerL2},
		{"loop on vdb, no layer", blk("vdb", ""), contract.LayerL2},
		{"loop on sda, no layer: a loop device (the table)", blk("sda", ""), contract.LayerL3},
		{"no backing device, L3", blk("", contract.LayerL3), contract.LayerL3},
		{"app stays app", blk("vda", contract.LayerApp), contract.LayerApp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, c.LayerOf(tt.e)) })
	}
	over := New([]Rule{{Event: contract.EventBlockIO, Layer: contract.LayerL0}}, DefaultThresholds)
	assert.Equal(t, contract.LayerL0, over.LayerOf(blk("vda", "")), "a configured rule still wins")
}

func TestLossCostsItsRecovery(t *testing.T) {
	c := New(nil, DefaultThresholds)
	a := netip.MustParseAddrPort("198.19.2.1:40000")
	b := netip.MustParseAddrPort("198.19.2.2:8082")
	drop := func(at int64) *kevent.Event {
		return &kevent.Event{Name: contract.EventSKBDrop, Time: at, Local: b, Peer: a,
			Detail: &kevent.Detail{DropReason: "NETFILTER_DROP"}}
	}
	retransmit := &kevent.Event{Name: contract.EventTCPRetransmit, Time: 230 * msec, Local: a, Peer: b}

	t.Run("a drop alone costs no time", func(t *testing.T) {
		v := c.Verdict([]*kevent.Event{drop(1 * msec)}, 0, 300*msec)
		assert.Equal(t, contract.LayerApp, v.Layer, v.Cause)
		assert.Equal(t, int64(1), v.Evidence.SKBDrops)
	})
	t.Run("drop then retransmit: the gap is the cost", func(t *testing.T) {
		v := c.Verdict([]*kevent.Event{drop(20 * msec), retransmit}, 0, 300*msec)
		assert.Equal(t, contract.LayerL3, v.Layer, v.Cause)
		assert.Contains(t, v.Cause, "(210ms)")
		assert.Contains(t, v.Cause, "NETFILTER_DROP")
	})
	t.Run("a dropped ACK inside a fast span explains little", func(t *testing.T) {
		r := &kevent.Event{Name: contract.EventTCPRetransmit, Time: 1100 * 1000, Local: a, Peer: b}
		v := c.Verdict([]*kevent.Event{drop(200 * 1000), r}, 0, 1200*1000)
		assert.Equal(t, contract.LayerApp, v.Layer, v.Cause)
	})
}

func TestMinTimeDefault(t *testing.T) {
	c := New(nil, DefaultThresholds)
	// Throttling over a 1s interval (10 periods, 800ms throttled), prorated:
	// a 6ms span inside it is charged 4.8ms without having been the one
	// stalled. Under min_prorated_time: app.
	prorated := func(from, to int64) *kevent.Event {
		return &kevent.Event{Name: contract.EventCgroupThrottle, Time: 1000 * msec, DurationNs: 800 * msec,
			Detail: &kevent.Detail{IntervalStart: 0, IntervalNs: 1000 * msec, ThrottledPeriods: 10}}
	}
	v := c.Verdict([]*kevent.Event{prorated(0, 0)}, 100*msec, 106*msec)
	assert.Equal(t, contract.LayerApp, v.Layer, v.Cause)
	assert.Contains(t, v.Cause, "explains too little")
	assert.Equal(t, contract.LayerL3, c.Verdict([]*kevent.Event{prorated(0, 0)}, 100*msec, 160*msec).Layer, "48ms prorated")
	// A measured delay needs only min_time.
	fsync := &kevent.Event{Name: contract.EventSyscallSlow, Time: 105 * msec, DurationNs: 4 * msec, Layer: contract.LayerL3,
		Detail: &kevent.Detail{SyscallName: "fsync", SyscallPhase: "body"}}
	assert.Equal(t, contract.LayerL3, c.Verdict([]*kevent.Event{fsync}, 100*msec, 106*msec).Layer)
	short := &kevent.Event{Name: contract.EventSyscallSlow, Time: 102 * msec, DurationNs: 2 * msec, Layer: contract.LayerL3,
		Detail: &kevent.Detail{SyscallName: "fsync", SyscallPhase: "body"}}
	assert.Equal(t, contract.LayerApp, c.Verdict([]*kevent.Event{short}, 100*msec, 102*msec).Layer, "2ms: under min_time")
}

func TestVerdictIO(t *testing.T) {
	fsync := &kevent.Event{Name: contract.EventSyscallSlow, Time: 70 * msec, DurationNs: 60 * msec, Layer: contract.LayerApp,
		Detail: &kevent.Detail{SyscallName: "fsync", SyscallPhase: "body"}}
	write := &kevent.Event{Name: contract.EventSyscallSlow, Time: 70 * msec, DurationNs: 60 * msec, Layer: contract.LayerApp,
		Detail: &kevent.Detail{SyscallName: "write", SyscallPhase: "body"}}
	assert.True(t, fsync.DiskWait())
	assert.False(t, write.DiskWait(), "a plain write may be a socket's")

	c := New(nil, DefaultThresholds)
	assert.Equal(t, contract.LayerApp, c.Verdict([]*kevent.Event{fsync}, 0, 80*msec).Layer, "no slow disk: the receiver's app")
	v := c.VerdictIO([]*kevent.Event{fsync}, 0, 80*msec, nil, contract.LayerL2)
	assert.Equal(t, contract.LayerL2, v.Layer, v.Cause)
	assert.Contains(t, v.Cause, "fsync")
	assert.Equal(t, contract.LayerApp, c.VerdictIO([]*kevent.Event{write}, 0, 80*msec, nil, contract.LayerL2).Layer)

	c = New([]Rule{{Event: contract.EventSyscallSlow, Match: map[string]string{contract.AttrSyscallName: "fsync"}, Layer: contract.LayerL1}}, DefaultThresholds)
	assert.Equal(t, contract.LayerL1, c.VerdictIO([]*kevent.Event{fsync}, 0, 80*msec, nil, contract.LayerL2).Layer, "configured rules win")
}

func TestConcurrentWaitsCountOnce(t *testing.T) {
	c := New(nil, DefaultThresholds)
	// Two threads of the process wait 2.4ms on the run queue at the same
	// time, inside a cgroup throttled around the span (prorated 4ms): the
	// request was delayed at most 2.4ms, measured; not a verdict.
	sched := func(end int64) *kevent.Event {
		return &kevent.Event{Name: contract.EventSchedDelay, Time: end, DurationNs: 2400 * 1000, Layer: contract.LayerL3}
	}
	th := &kevent.Event{Name: contract.EventCgroupThrottle, Time: 1000 * msec, DurationNs: 800 * msec,
		Detail: &kevent.Detail{IntervalStart: 0, IntervalNs: 1000 * msec, ThrottledPeriods: 10}}
	v := c.Verdict([]*kevent.Event{sched(103 * msec), sched(103*msec + 1000), th}, 100*msec, 105*msec)
	assert.Equal(t, contract.LayerApp, v.Layer, v.Cause)
	// One after the other, they add up to a measured 4.8ms.
	v = c.Verdict([]*kevent.Event{sched(102500 * 1000), sched(105 * msec), th}, 100*msec, 105*msec)
	assert.Equal(t, contract.LayerL3, v.Layer, v.Cause)
}

func TestRetransmitChargedItsMeasuredWait(t *testing.T) {
	c := New(nil, DefaultThresholds)
	peer := netip.MustParseAddrPort("198.18.64.2:8080")
	local := netip.MustParseAddrPort("198.18.64.1:40000")
	rtx := func(at, wait int64) *kevent.Event {
		return &kevent.Event{Name: contract.EventTCPRetransmit, Time: at, DurationNs: wait, Local: local, Peer: peer}
	}
	// A 7ms server span on a pooled connection: a tail-loss probe 2ms
	// after the previous transmission is 2ms, not event_cost.
	v := c.Verdict([]*kevent.Event{rtx(5*msec, 2*msec)}, 0, 7*msec)
	assert.Equal(t, contract.LayerApp, v.Layer, v.Cause)
	assert.Equal(t, int64(1), v.Evidence.Retransmits)
	assert.Contains(t, v.Cause, "too little")

	// A timeout that held the segment 210ms inside a 300ms span.
	v = c.Verdict([]*kevent.Event{rtx(250*msec, 210*msec)}, 0, 300*msec)
	assert.Equal(t, contract.LayerNetwork, v.Layer)
	assert.Equal(t, 210*msec, v.Events[0].TimeNs)

	// Clipped to the span: the segment was sent before the span started.
	assert.Equal(t, 50*msec, c.timeOf(rtx(150*msec, 210*msec), 100*msec, 300*msec))
	// A retransmit after the span's end costs it nothing.
	assert.Zero(t, c.timeOf(rtx(320*msec, 10*msec), 0, 300*msec))

	// Two segments of one window resent together: the wait counts once.
	v = c.Verdict([]*kevent.Event{rtx(250*msec, 210*msec), rtx(251*msec, 211*msec)}, 0, 300*msec)
	assert.Equal(t, contract.LayerNetwork, v.Layer)
	assert.Equal(t, int64(2), v.Evidence.Retransmits)

	// Without a measurement the fixed cost still applies.
	assert.Equal(t, int64(DefaultThresholds.EventCost), c.timeOf(rtx(150*msec, 0), 0, 300*msec))
	// A measured wait wins over the drop-to-retransmit estimate.
	drop := &kevent.Event{Name: contract.EventSKBDrop, Time: 10 * msec, Local: peer, Peer: local}
	v = c.Verdict([]*kevent.Event{drop, rtx(250*msec, 30*msec)}, 0, 300*msec)
	for _, a := range v.Events {
		if a.Event.Name == contract.EventTCPRetransmit {
			assert.Equal(t, 30*msec, a.TimeNs)
		}
	}
}

// A configured rule may test every key the config accepts (kevent.MatchKeys).
func TestRulesMatchEveryMatchKey(t *testing.T) {
	e := &kevent.Event{Name: contract.EventSyscallSlow, Exe: "app", Layer: contract.LayerApp, Detail: &kevent.Detail{
		SyscallPhase: "body", SyscallName: "read", DropReason: "QDISC_DROP", Interface: "eth0",
		BlockDevice: "vda", BlockOp: "write", SeccompMode: 2,
	}}
	var f layers.Facts
	e.Facts(&f)
	for _, k := range kevent.MatchKeys {
		v := f.Str(k)
		require.NotEmpty(t, v, k)
		c := New([]Rule{{Event: contract.EventSyscallSlow, Match: map[string]string{k: v}, Layer: contract.LayerL0}}, DefaultThresholds)
		assert.Equal(t, contract.LayerL0, c.LayerOf(e), k)
		c = New([]Rule{{Event: contract.EventSyscallSlow, Match: map[string]string{k: v + "x"}, Layer: contract.LayerL0}}, DefaultThresholds)
		assert.NotEqual(t, contract.LayerL0, c.LayerOf(e), k)
	}
}

// A span with no events is app, says why in the words of an empty window,
// and hands back the caller's buffer (most spans of a healthy node).
func TestNoEventsIsApp(t *testing.T) {
	c := New(nil, DefaultThresholds)
	buf := make([]Attributed, 0, 4)
	v := c.VerdictIO(nil, 0, 80*msec, buf, contract.LayerL2)
	assert.Equal(t, contract.LayerApp, v.Layer)
	assert.Equal(t, "no kernel evidence in the span's window", v.Cause)
	assert.Equal(t, Evidence{}, v.Evidence)
	assert.Empty(t, v.Events)
	assert.Equal(t, cap(buf), cap(v.Events), "the caller's buffer, not a new one")
}

// A layer whose time rounds to "0ms" in the cause is not listed: a guest's
// threads lose microseconds to steal on most spans, and "L1: cpu steal
// 0ms (0ms)" told the reader nothing, on every span, at the exporter's
// cost. A verdict's layer, and a weak layer with readable time, still are.
func TestCauseListsOnlyReadableTime(t *testing.T) {
	c := New(nil, DefaultThresholds)
	usec := msec / 1000
	steal := func(at, d int64) *kevent.Event {
		return &kevent.Event{Name: contract.EventCPUSteal, Time: at, DurationNs: d, PID: 7, Layer: contract.LayerL1}
	}
	throttle := &kevent.Event{Name: contract.EventSyscallSlow, Time: 60 * msec, DurationNs: 40 * msec, Layer: contract.LayerL3, Detail: &kevent.Detail{SyscallName: "fsync"}}

	v := c.Verdict([]*kevent.Event{steal(2*msec, 20*usec)}, 0, 4*msec)
	assert.Equal(t, contract.LayerApp, v.Layer)
	assert.Equal(t, "no layer evidence among the span's 1 kernel events", v.Cause)

	v = c.Verdict([]*kevent.Event{throttle, steal(50*msec, 30*usec)}, 0, 100*msec)
	assert.Equal(t, contract.LayerL3, v.Layer)
	assert.Equal(t, "L3: slow syscalls 40ms (fsync) (40ms)", v.Cause, "the steal's 30µs are not listed")

	v = c.Verdict([]*kevent.Event{steal(2*msec, 200*usec)}, 0, 4*msec)
	assert.Equal(t, contract.LayerApp, v.Layer)
	assert.Equal(t, "kernel evidence explains too little of the span (0.2ms of 4ms); L1: cpu steal 0.2ms (0.2ms)", v.Cause)
}
