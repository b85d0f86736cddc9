package probes

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestLog2HistogramToPdata(t *testing.T) {
	// Two CPUs' copies of one kernel histogram: 3 waits of 0.8ms
	// (slot 19 = [2^19, 2^20) ns ≈ [0.52ms, 1.05ms)) and one of ~90ms (slot 26).
	var a, b schedLog2Hist
	a.Slots[19], a.Count, a.SumNs = 2, 2, 2*uint64(800*time.Microsecond)
	b.Slots[19], b.Slots[26], b.Count, b.SumNs = 1, 1, 2, uint64(800*time.Microsecond+90*time.Millisecond)
	h := sumHists([]schedLog2Hist{a, b})

	ms := pmetric.NewMetricSlice()
	dps := histogram(ms, "kernel.sched.delay", "d")
	start, now := pcommon.Timestamp(1), pcommon.Timestamp(2)
	dp := addLog2Point(dps, start, now, h.Slots, h.Count, h.SumNs)

	require.Equal(t, 1, ms.Len())
	assert.Equal(t, pmetric.AggregationTemporalityCumulative, ms.At(0).Histogram().AggregationTemporality())
	assert.Equal(t, "s", ms.At(0).Unit())
	assert.Equal(t, uint64(4), dp.Count())
	assert.InDelta(t, 0.0924, dp.Sum(), 1e-9)
	assert.Equal(t, histSlots-1, dp.ExplicitBounds().Len())
	assert.Equal(t, histSlots, dp.BucketCounts().Len(), "one bucket per kernel slot")
	assert.Equal(t, uint64(3), dp.BucketCounts().At(19))
	assert.Equal(t, uint64(1), dp.BucketCounts().At(26))
	// Bucket i is (2^i ns, 2^(i+1) ns]: slot 26 holds 90ms.
	assert.Less(t, dp.ExplicitBounds().At(25), 0.090)
	assert.Greater(t, dp.ExplicitBounds().At(26), 0.090)
}
