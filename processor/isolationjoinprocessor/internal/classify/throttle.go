package classify

import (
	"cmp"
	"slices"
)

// dedupeThrottled charges overlapping per-thread throttled waits once: each
// wait keeps only the part no earlier-starting wait of its layer covers
// (its event's time, the layer's time and the span's throttled_ms).
func dedupeThrottled(v *Verdict, perLayer *[numLayers]int64, iv []ival, idx []int) {
	order := make([]int, len(iv))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(iv[a].layer, iv[b].layer); c != 0 {
			return c
		}
		return cmp.Compare(iv[a].start, iv[b].start)
	})
	layer, covered := -1, int64(0)
	for _, i := range order {
		x := iv[i]
		if x.layer != layer {
			layer, covered = x.layer, x.start
		}
		over := min(covered, x.end) - x.start
		if over > 0 {
			v.Events[idx[i]].TimeNs -= over
			perLayer[x.layer] -= over
			v.Evidence.ThrottledMs -= nsToMs(over)
		}
		covered = max(covered, x.end)
	}
}
