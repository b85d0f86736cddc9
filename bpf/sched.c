// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Run-queue delay (runqlat): the time a task waits between becoming runnable
// (wakeup, new task, or preempted while runnable, which is how a
// CFS-throttled task leaves the CPU) and running. Every wait goes into an
// in-kernel log2 histogram per cgroup; only a wait over min_delay_ns crosses
// the ring buffer as kernel.sched.delay. sched_switch fires on every
// context switch, so its program does one lookup and one histogram update.
#include "host.h"

// Set by the receiver before load (config sched_delay.threshold).
const volatile __u64 min_delay_ns = 50000000;

struct sched_delay_event {
	struct event_header hdr;
	__u64 delay_ns;
	struct cg_key cg; // the task's cgroup (v1 cpu controller when not in v2)
};

// When each task became runnable, in the task's own local storage: no
// hashing, no bucket lock, freed with the task (cheaper than the hash map
// runqlat uses).
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64); // runnable since (boot ns), 0 = not waiting
} runq_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct cg_key);
	__type(value, struct log2_hist);
} sched_hist SEC(".maps");

const struct sched_delay_event *unused_sched_delay_event __attribute__((unused));
const struct log2_hist *unused_log2_hist __attribute__((unused));
const struct cg_key *unused_cg_key __attribute__((unused));

static __always_inline int enqueue_at(struct task_struct *p, __u64 ts)
{
	__u64 *start;

	if (!p->pid)
		return 0;
	start = bpf_task_storage_get(&runq_start, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (start)
		*start = ts;
	return 0;
}

static __always_inline int enqueue(struct task_struct *p)
{
	return enqueue_at(p, bpf_ktime_get_boot_ns());
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(handle_sched_wakeup, struct task_struct *p)
{
	return enqueue(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(handle_sched_wakeup_new, struct task_struct *p)
{
	return enqueue(p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	struct sched_delay_event *e;
	struct cg_key cg;
	__u64 *tsp, delta, now = 0;

	if (prev_state == 0 && prev->pid) { // TASK_RUNNING: preempted, still runnable
		now = bpf_ktime_get_boot_ns();
		enqueue_at(prev, now);
	}
	if (!next->pid) // the idle task does not wait
		return 0;
	tsp = bpf_task_storage_get(&runq_start, next, 0, 0);
	if (!tsp || !*tsp)
		return 0;
	if (!now)
		now = bpf_ktime_get_boot_ns();
	delta = now - *tsp;
	*tsp = 0;

	task_cg_key(next, bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id), &cg);
	hist_add(&sched_hist, &cg, delta);
	if (delta < min_delay_ns)
		return 0;

	e = reserve_event(sizeof(*e), EVENT_SCHED_DELAY);
	if (!e)
		return 0;
	fill_header_task(&e->hdr, EVENT_SCHED_DELAY, next);
	e->delay_ns = delta;
	e->cg = cg;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
