// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Log2 histograms kept in per-CPU arrays: slot i (0 ≤ i < HIST_BUCKETS-1)
// counts values v with 2^(i-1) < v ≤ 2^i (slot 0: v ≤ 1), the last bucket
// counts everything larger, and slot HIST_SUM holds the sum of the values.
// The bucket upper bounds are therefore exactly 1, 2, 4, … 2^(HIST_BUCKETS-2),
// the explicit bounds of the OpenTelemetry histogram the receiver emits.
#pragma once

#define HIST_BUCKETS 32
#define HIST_SUM HIST_BUCKETS
#define HIST_SLOTS (HIST_BUCKETS + 1)

static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 i = 0;
	if (v <= 1)
		return 0;
	v -= 1; // ceil(log2(v)) = bit length of v-1
#pragma unroll
	for (int b = 32; b > 0; b >>= 1) {
		if (v >> b) {
			v >>= b;
			i += b;
		}
	}
	i += 1;
	if (i > HIST_BUCKETS - 1)
		i = HIST_BUCKETS - 1;
	return i;
}

static __always_inline void hist_add(void *map, __u64 v)
{
	__u32 slot = log2_bucket(v);
	__u64 *n = bpf_map_lookup_elem(map, &slot);
	if (n)
		*n += 1; // per-CPU: no other writer
	slot = HIST_SUM;
	n = bpf_map_lookup_elem(map, &slot);
	if (n)
		*n += v;
}
