package probes

import (
	"fmt"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The in-kernel histograms (bpf/hist.h) are per-CPU arrays of log2 buckets
// plus a sum slot. mdatagen (v0.159) generates sum and gauge metrics only,
// so histograms cannot go through the MetricsBuilder: they are built here as
// pdata explicit-bucket histograms and the receiver appends them to the
// builder's output (same resource and scope).

const (
	histBuckets = 32 // HIST_BUCKETS
	histSum     = histBuckets
)

// Log2Histogram is one read of an in-kernel histogram, summed over CPUs.
type Log2Histogram struct {
	Buckets [histBuckets]uint64
	Sum     uint64
}

// Count is the number of values recorded.
func (h *Log2Histogram) Count() uint64 {
	var n uint64
	for _, b := range h.Buckets {
		n += b
	}
	return n
}

func readLog2Histogram(m *ebpf.Map) (*Log2Histogram, error) {
	h := &Log2Histogram{}
	var values []uint64
	for slot := uint32(0); slot <= histSum; slot++ {
		if err := m.Lookup(slot, &values); err != nil {
			return nil, fmt.Errorf("read histogram slot %d: %w", slot, err)
		}
		var s uint64
		for _, v := range values {
			s += v
		}
		if slot == histSum {
			h.Sum = s
		} else {
			h.Buckets[slot] = s
		}
	}
	return h, nil
}

// HistogramMetric describes a histogram metric a probe emits.
type HistogramMetric struct {
	Name, Description string
	// Scale converts the kernel's unit (µs, ms) to seconds, the unit every
	// duration metric is emitted in.
	Scale float64
}

// appendHistogram appends h as a cumulative explicit-bucket histogram in
// seconds with bounds Scale × 1, 2, 4, … 2^(histBuckets-2): bucket i of the
// kernel holds values in (2^(i-1), 2^i] of its unit, exactly the
// OpenTelemetry bucket with that upper bound.
func appendHistogram(ms pmetric.MetricSlice, desc HistogramMetric, start, now pcommon.Timestamp, h *Log2Histogram) {
	m := ms.AppendEmpty()
	m.SetName(desc.Name)
	m.SetDescription(desc.Description)
	m.SetUnit("s")
	hist := m.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := hist.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(now)
	bounds := make([]float64, histBuckets-1)
	for i := range bounds {
		bounds[i] = float64(uint64(1)<<i) * desc.Scale
	}
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(h.Buckets[:])
	dp.SetCount(h.Count())
	dp.SetSum(float64(h.Sum) * desc.Scale)
}
