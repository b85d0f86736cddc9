package index

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

func nodeEvent(t int64) *kevent.Event {
	return &kevent.Event{Time: t, Name: contract.EventCPUSteal, Host: "n"}
}

// Issue 14 row 4: a late batch (descending, shuffled) is indexed in time
// order, as one-by-one inserts would, and finds the same windows.
func TestAddBatchLateEventsInOrder(t *testing.T) {
	x := New(1_000_000, 1<<62)
	var ascending []*kevent.Event
	for i := range 10_000 {
		ascending = append(ascending, nodeEvent(int64(2*i+1_000_000)))
	}
	x.AddBatch(ascending)
	late := make([]*kevent.Event, 0, 5_000)
	for i := range 5_000 {
		late = append(late, nodeEvent(int64(1_000_000+20_000-4*i))) // descending, interleaved with the list
	}
	rand.Shuffle(len(late)/2, func(i, j int) { late[i], late[j] = late[j], late[i] })
	x.AddBatch(late)
	l := x.NodeList("n")
	require.Len(t, l, 15_000)
	for i := 1; i < len(l); i++ {
		require.LessOrEqual(t, l[i-1].time, l[i].time, "position %d", i)
	}
	w := window(x.NodeList("n"), 1_000_000, 1_000_010)
	assert.Equal(t, 6+2, w.Len(), "the window has both the in-order and the late events")
	// Removal still finds late events (eviction walks the insertion order).
	for x.Len() > 0 {
		x.removeOldest()
	}
	assert.Empty(t, x.NodeList("n"))
}

// BenchmarkLateBatch: inserting a late batch into a long list, as one
// batch (AddBatch) and one by one (Add, the cost before issue 14 row 4).
func BenchmarkLateBatch(b *testing.B) {
	for _, mode := range []string{"batch", "one-by-one"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				x := New(1_000_000, 1<<62)
				base := make([]*kevent.Event, 190_000)
				for i := range base {
					base[i] = nodeEvent(int64(i + 100_000))
				}
				x.AddBatch(base)
				late := make([]*kevent.Event, 10_000)
				for i := range late {
					late[i] = nodeEvent(int64(100_000 + 19*i))
				}
				b.StartTimer()
				if mode == "batch" {
					x.AddBatch(late)
				} else {
					for _, e := range late {
						x.Add(e)
					}
				}
			}
		})
	}
}
