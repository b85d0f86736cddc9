// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Pieces shared by the host-side probes (scheduler, block IO, syscalls,
// OOM): in-kernel log2 histograms and the cgroup a task belongs to.
#pragma once

#include "common.h"

#define HIST_SLOTS 40 // 2^40 ns ≈ 18 minutes

// A log2 histogram of nanosecond values: slots[i] counts values in
// [2^i, 2^(i+1)). Updated with atomic adds, read by the receiver as the
// cumulative histogram metric.
struct log2_hist {
	__u64 slots[HIST_SLOTS];
	__u64 count;
	__u64 sum_ns;
};

// t must be a BTF pointer (tp_btf argument, bpf_get_current_task_btf):
// the chain is read with direct, fault-tolerant loads (CO-RE relocated),
// much cheaper than a bpf_probe_read_kernel call per hop.
static __always_inline __u64 task_cgroup_v2_id(struct task_struct *t)
{
	return t->cgroups->dfl_cgrp->kn->id;
}

static __always_inline __u64 task_cgroup_v1_id(struct task_struct *t, int subsys)
{
	struct cgroup_subsys_state *css;

	if (subsys < 0 || subsys >= CGROUP_SUBSYS_COUNT)
		return 0;
	css = t->cgroups->subsys[subsys];
	if (!css)
		return 0;
	return css->cgroup->kn->id;
}

static __always_inline void task_cg_key(struct task_struct *t, int subsys, struct cg_key *k)
{
	k->_pad = 0;
	k->id = task_cgroup_v2_id(t);
	k->hier = 0;
	if (k->id > 1)
		return;
	k->id = task_cgroup_v1_id(t, subsys);
	k->hier = subsys + 1;
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

// Add value to the histogram at key in map (a per-CPU hash: no atomics,
// the receiver sums the CPUs), creating it on first use. The maps are plain
// hashes, not LRU (whose bookkeeping costs on every lookup); the receiver
// deletes the histograms of cgroups that are gone.
static __always_inline void hist_add(void *map, const void *key, __u64 value)
{
	struct log2_hist *h = bpf_map_lookup_elem(map, key);
	if (!h) {
		static const struct log2_hist zero = {};
		bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(map, key);
		if (!h)
			return;
	}
	__u32 slot = log2_u64(value);
	if (slot >= HIST_SLOTS)
		slot = HIST_SLOTS - 1;
	h->slots[slot]++;
	h->count++;
	h->sum_ns += value;
}

// Fill an event header for task t (which need not be current).
static __always_inline void fill_header_task(struct event_header *h, __u32 type, struct task_struct *t)
{
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->type = type;
	h->_pad = 0;
	h->pid = t->tgid;
	h->tid = t->pid;
	h->cgroup_id = task_cgroup_v2_id(t);
	bpf_probe_read_kernel(h->comm, sizeof(h->comm), &t->comm);
}
