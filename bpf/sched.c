// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Run-queue delay (runqlat): the time a task waits between becoming runnable
// (wakeup, new task, or preempted while runnable, which is how a
// CFS-throttled task leaves the CPU) and running. Every wait goes into an
// in-kernel log2 histogram per cgroup; only a wait over min_delay_ns crosses
// the ring buffer as kernel.sched.delay. sched_switch fires on every
// context switch, so its program does one lookup and one histogram update.
//
// The same program measures two per-thread CPU losses (issue 13):
// - throttling: a task switched out runnable while CFS bandwidth control
//   throttles its group (task->throttled since 6.18's task-based throttle,
//   else its cfs_rq's throttle_count) waits until the group is unthrottled;
//   that wait becomes a kernel.cgroup.throttle record of the thread (and not
//   a kernel.sched.delay record: one wait, one cause);
// - steal: the run queue's steal clock (rq->prev_steal_time_rq, paravirt
//   time accounting) advanced between two switches of a CPU while prev ran
//   on it: that steal delayed prev, and is summed per process.
#include "syscall_wait.h"

// When syscall_slow runs too, this program also tracks its waits (the
// syscall_wait.h half of syscall.c): one program and one task-storage
// lookup per task per switch instead of two.
const volatile __u32 track_syscalls = 0;

// Set by the receiver before load (config sched_delay.threshold).
const volatile __u64 min_delay_ns = 50000000;
// A throttled wait at least this long becomes a record.
const volatile __u64 min_throttle_ns = 1000000;

// When each task became runnable, in the task's own local storage: no
// hashing, no bucket lock, freed with the task (cheaper than the hash map
// runqlat uses). The low bit says the wait began throttled (boot ns are
// even often enough: one nanosecond is below anything measured).
struct sched_task {
	__u64 runnable_since; // boot ns | THROTTLED_BIT, 0 = not waiting
	// A throttled wait: its cfs_rq, that cfs_rq's cumulative throttled
	// time and how much of the current throttle had passed at switch-out.
	__u64 thr_cfs_rq;
	__u64 thr_self_time;
	__u64 thr_before;
	struct sc_wait sc;    // track_syscalls only
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sched_task);
} runq_start SEC(".maps");

#define THROTTLED_BIT 1ULL

// Steal per process (key: tgid), cumulative ns, per CPU; the receiver sums
// the CPUs every poll interval and deletes the processes that are gone.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} steal_by_tgid SEC(".maps");

// The steal clock each CPU showed at its previous switch.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} steal_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct cg_key);
	__type(value, struct log2_hist);
} sched_hist SEC(".maps");

const struct sched_delay_event *unused_sched_delay_event __attribute__((unused));
const struct log2_hist *unused_log2_hist __attribute__((unused));
const struct cg_key *unused_cg_key __attribute__((unused));
const struct cpu_throttled_event *unused_cpu_throttled_event __attribute__((unused));

// Whether CFS bandwidth control holds p off the CPU: 6.18+ marks the task
// itself when it is throttled on its way to user space; before that (and
// on older kernels) its cfs_rq is throttled (throttle_count counts
// throttled ancestors too).
static __always_inline bool task_throttled(struct task_struct *p)
{
	if (bpf_core_field_exists(p->throttled) && p->throttled)
		return true;
	// Preempted when the quota ran out, before the throttle work ran (or
	// a kernel without task-based throttling): its group is throttled.
	if (bpf_core_field_exists(struct cfs_rq, throttle_count))
		return p->se.cfs_rq->throttle_count > 0; // direct BTF loads, no probe-read calls
	return false;
}

// At the switch-out of a throttled task: remember its cfs_rq's cumulative
// throttled time (cfs_rq.throttled_clock_self_time, advanced at each
// unthrottle) and how far into the current throttle it already was (rq
// clock − throttled_clock_self), so the switch-in can tell the throttled
// part of the wait from the run-queue wait after the unthrottle (the
// group's threads then queue for the CPU one after another).
static __always_inline void throttle_begins(struct sched_task *ts, struct task_struct *p)
{
	struct cfs_rq *cq = p->se.cfs_rq;
	__u64 since;

	ts->thr_cfs_rq = 0;
	if (!bpf_core_field_exists(struct cfs_rq, throttled_clock_self_time) || !cq)
		return;
	ts->thr_cfs_rq = (__u64)cq;
	ts->thr_self_time = cq->throttled_clock_self_time;
	since = cq->throttled_clock_self;
	ts->thr_before = since ? cq->rq->clock - since : 0;
	if ((__s64)ts->thr_before < 0)
		ts->thr_before = 0;
}

// The throttled part of a throttled task's wait of delta ns (all of it when
// the kernel does not say, or the task moved to another cfs_rq).
static __always_inline __u64 throttled_part(struct sched_task *ts, struct task_struct *p, __u64 delta)
{
	struct cfs_rq *cq = p->se.cfs_rq;
	__u64 episode, thr;

	if (!ts->thr_cfs_rq || (__u64)cq != ts->thr_cfs_rq)
		return delta;
	episode = cq->throttled_clock_self_time - ts->thr_self_time;
	if ((__s64)episode <= 0)
		return delta; // not unthrottled through this cfs_rq (an ancestor was throttled)
	thr = episode > ts->thr_before ? episode - ts->thr_before : 0;
	return thr < delta ? thr : delta;
}

// Charge the steal this CPU's run queue accounted since its previous
// switch to prev, which ran in between.
static __always_inline void account_steal(struct task_struct *prev)
{
	__u32 zero = 0, tgid;
	__u64 steal, *seen, *sum, delta;

	if (!bpf_core_field_exists(struct rq, prev_steal_time_rq))
		return;
	steal = prev->se.cfs_rq->rq->prev_steal_time_rq; // direct BTF loads
	seen = bpf_map_lookup_elem(&steal_seen, &zero);
	if (!seen || steal == *seen)
		return; // no steal: the common case, one load and a compare
	delta = steal - *seen;
	if (!*seen) { // the first switch seen on this CPU: steal since boot is history
		*seen = steal;
		return;
	}
	*seen = steal;
	if (!prev->pid) // the idle task lost nothing anyone waits for
		return;
	tgid = prev->tgid;
	sum = bpf_map_lookup_elem(&steal_by_tgid, &tgid);
	if (!sum) {
		__u64 init = delta;
		if (!bpf_map_update_elem(&steal_by_tgid, &tgid, &init, BPF_NOEXIST))
			return;
		sum = bpf_map_lookup_elem(&steal_by_tgid, &tgid); // inserted meanwhile?
		if (!sum) { // the map is full: count the loss
			__u32 type = EVENT_CPU_STEAL;
			__u64 *lost = bpf_map_lookup_elem(&events_lost, &type);
			if (lost)
				__sync_fetch_and_add(lost, 1);
			return;
		}
	}
	*sum += delta; // per-CPU: no other writer
}

static __always_inline int enqueue(struct task_struct *p)
{
	struct sched_task *ts;

	if (!p->pid)
		return 0;
	ts = bpf_task_storage_get(&runq_start, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (ts)
		ts->runnable_since = bpf_ktime_get_boot_ns() & ~THROTTLED_BIT;
	return 0;
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
	struct sched_task *ts = 0;
	struct cg_key cg;
	__u64 delta, throttled, now = bpf_ktime_get_boot_ns();

	account_steal(prev);
	if (prev->pid) {
		if (prev_state == 0 || track_syscalls)
			ts = bpf_task_storage_get(&runq_start, prev, 0, 0);
		if (track_syscalls) {
			struct sc_out w;
			bool begin = sc_switch_out(ts ? &ts->sc : 0, prev, prev_state, now, &w);
			if (begin || w.trap) {
				if (!ts)
					ts = bpf_task_storage_get(&runq_start, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
				if (ts && begin)
					sc_begin(&ts->sc, prev, now, &w);
				if (ts && w.trap)
					trap_begin(&ts->sc, prev, now, &w);
			}
		}
		if (prev_state == 0) { // TASK_RUNNING: preempted, still runnable
			if (!ts)
				ts = bpf_task_storage_get(&runq_start, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (ts) {
				ts->runnable_since = now & ~THROTTLED_BIT;
				if (task_throttled(prev)) {
					ts->runnable_since |= THROTTLED_BIT;
					throttle_begins(ts, prev);
				}
			}
		}
	}
	if (!next->pid) // the idle task does not wait
		return 0;
	ts = bpf_task_storage_get(&runq_start, next, 0, 0);
	if (!ts)
		return 0;
	if (track_syscalls)
		sc_switch_in(&ts->sc, next, now);
	if (!ts->runnable_since)
		return 0;
	throttled = ts->runnable_since & THROTTLED_BIT;
	delta = now - (ts->runnable_since & ~THROTTLED_BIT);
	ts->runnable_since = 0;

	task_cg_key(next, bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id), &cg);
	hist_add(&sched_hist, &cg, delta);
	if (throttled) {
		struct cpu_throttled_event *te;
		__u64 thr = throttled_part(ts, next, delta);

		if (thr < min_throttle_ns)
			return 0;
		te = reserve_event(sizeof(*te), EVENT_CPU_THROTTLED);
		if (!te)
			return 0;
		fill_header_task(&te->hdr, EVENT_CPU_THROTTLED, next);
		// The wait's throttled part: from switch-out to the unthrottle.
		te->hdr.ts_ns = now - delta + thr;
		te->throttled_ns = thr;
		te->cg = cg;
		bpf_ringbuf_submit(te, 0);
		return 0;
	}
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
