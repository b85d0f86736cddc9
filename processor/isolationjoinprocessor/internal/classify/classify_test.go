package classify

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/crosshair-otel/crosshair/internal/contract"
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
	assert.Equal(t, contract.LayerL3, c.LayerOf(sched), "default table")
	assert.Equal(t, contract.LayerL1, c.LayerOf(schedL1), "the record's own layer beats the table")
	assert.Equal(t, contract.LayerL4, c.LayerOf(entry))
	assert.Equal(t, contract.LayerL3, c.LayerOf(body))
	assert.Empty(t, c.LayerOf(conn), "connection statistics are evidence for no layer")

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
			{Name: contract.EventCPUSteal, Time: 100 * msec, DurationNs: 20 * msec},
			{Name: contract.EventCgroupThrottle, Time: 100 * msec, DurationNs: 20 * msec},
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
