// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Slow syscalls seen from the scheduler, with no syscall tracepoint (any
// syscalls:*/raw_syscalls:* program puts every syscall of the node on the
// kernel's tracing slow path). A syscall is slow in a way a layer can explain
// when its task is off CPU inside it: waiting for a disk, a throttled IO
// cgroup, a seccomp supervisor. At sched_switch a task that goes to sleep
// with a syscall number in its saved registers (orig_ax, bpf_task_pt_regs)
// is waiting inside that syscall; its switch-ins and switch-outs are summed
// per syscall until the task leaves it, and the wait — first switch-out to
// last switch-in — becomes a record when it crosses the threshold.
//
// The task leaves the syscall when it next goes off CPU outside it (not in
// a syscall, another syscall or phase, another read/write call — the task's
// ioac.syscr/syscw count each — or after running more than max_cpu_gap_ns
// since it last woke), or exits. The record is written then and stamped with
// the last switch-in, when the wait ended.
//
// Phases: entry is the wait before the syscall runs — a seccomp user-notify
// supervisor (the task is listed in its filter's pending notifications) or
// a ptrace syscall-entry stop; body is the wait inside the syscall.
#include "syscall.h"

#define TASK_TRACED_BIT 0x8 // __TASK_TRACED
#define TASK_DEAD_BIT 0x80  // TASK_DEAD
#define PTRACE_EVENTMSG_SYSCALL_EXIT 2
#define MAX_FILTERS 8
#define MAX_NOTIFS 16

const volatile __u64 min_latency_ns = 50000000;       // body
const volatile __u64 min_entry_latency_ns = 10000000; // entry
// CPU time a task may run between two sleeps of one syscall (fsync's IO
// waits, a connect's retries); more means it left the syscall in between.
const volatile __u64 max_cpu_gap_ns = 2000000;
const volatile __u32 connect_nr = 42; // __NR_connect (set from user space)
// Bitmap of the watched syscall numbers (set from user space).
const volatile __u64 watched[8] = {};

// Per-thread state in task local storage (no hashing, freed with the task).
struct sc_wait {
	__u64 start;     // first switch-out inside the syscall; 0 = none pending
	__u64 last_in;   // last switch-in after a sleep in it
	__u64 out_since; // current switch-out; 0 = on CPU
	__u64 off_ns;    // off-CPU time summed
	__u64 run_in;    // se.sum_exec_runtime at the last switch-in
	__u64 io_calls;  // ioac.syscr + ioac.syscw when the wait began
	__u32 nr;
	__u32 phase;
	__u32 seccomp_mode;
	__u32 _pad;
	struct sc_peer peer;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sc_wait);
} sc_wait SEC(".maps");

static __always_inline bool is_watched(long nr)
{
	if (nr < 0 || nr >= 512)
		return false;
	return (watched[(nr >> 6) & 7] >> (nr & 63)) & 1;
}

// Whether t sits in a seccomp user notification: one of its filters has a
// listener whose pending notifications name t. Only walked for tasks under
// a filter, and the chains are short.
static __always_inline bool seccomp_notify_wait(struct task_struct *t)
{
	struct seccomp_filter *f = t->seccomp.filter;
	__u64 off = bpf_core_field_offset(struct seccomp_knotif, list);

	for (int i = 0; i < MAX_FILTERS && f; i++) {
		struct notification *n = f->notif;
		if (n) {
			struct list_head *head = &n->notifications;
			struct list_head *pos = BPF_CORE_READ(head, next);
			for (int j = 0; j < MAX_NOTIFS && pos && pos != head; j++) {
				struct seccomp_knotif *k = (void *)((unsigned long)pos - off);
				if (BPF_CORE_READ(k, task) == t)
					return true;
				pos = BPF_CORE_READ(pos, next);
			}
		}
		f = f->prev;
	}
	return false;
}

static __always_inline __u32 phase_of(struct task_struct *t, unsigned int state)
{
	if (state & TASK_TRACED_BIT) // a ptrace stop: before the syscall unless it is the exit stop
		return t->ptrace_message == PTRACE_EVENTMSG_SYSCALL_EXIT ? PHASE_BODY : PHASE_ENTRY;
	if (t->seccomp.mode == SECCOMP_MODE_FILTER && seccomp_notify_wait(t))
		return PHASE_ENTRY;
	return PHASE_BODY;
}

// The wait of st is over: histogram, and a record when it is long enough.
// t is the task (current: it is being switched out).
static __always_inline void flush(struct sc_wait *st, struct task_struct *t)
{
	struct syscall_event *e;
	struct sc_key k = {};
	__u64 start = st->start, lat;

	st->start = 0;
	st->out_since = 0;
	if (!st->last_in || st->last_in <= start)
		return;
	lat = st->last_in - start;
	task_cg_key(t, bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id), &k.cg);
	k.nr = st->nr;
	k.phase = st->phase;
	hist_add(&syscall_hist, &k, lat);
	if (lat < (st->phase == PHASE_ENTRY ? min_entry_latency_ns : min_latency_ns))
		return;
	e = reserve_event(sizeof(*e), EVENT_SYSCALL_SLOW);
	if (!e)
		return;
	fill_header_task(&e->hdr, EVENT_SYSCALL_SLOW, t);
	e->hdr.ts_ns = st->last_in; // the wait ended then, not now
	e->latency_ns = lat;
	e->ret = 0;
	e->cg = k.cg;
	e->nr = st->nr;
	e->phase = st->phase;
	e->seccomp_mode = st->seccomp_mode;
	e->flags = 0;
	e->peer = st->peer;
	e->off_cpu_ns = st->off_ns;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void switch_out(struct task_struct *prev, unsigned int state, __u64 now)
{
	struct sc_wait *st = bpf_task_storage_get(&sc_wait, prev, 0, 0);
	struct pt_regs *regs;
	__u64 io, ran;
	__u32 phase;
	long nr = -1;

	regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (regs)
		nr = BPF_CORE_READ(regs, orig_ax); // -1 outside a syscall (interrupt/exception frame)
	if (state == 0) {
		// Preempted, still runnable: run-queue time, not the syscall's
		// wait. Preempted in user mode (or in another syscall) it has
		// left the pending one.
		if (st && st->start && nr != (long)st->nr)
			flush(st, prev);
		return;
	}
	if ((state & TASK_DEAD_BIT) || !is_watched(nr)) {
		if (st && st->start)
			flush(st, prev);
		return;
	}
	phase = phase_of(prev, state);
	io = prev->ioac.syscr + prev->ioac.syscw;
	if (st && st->start) {
		ran = prev->se.sum_exec_runtime - st->run_in;
		if (st->nr == (__u32)nr && st->phase == phase && st->io_calls == io && ran <= max_cpu_gap_ns) {
			st->out_since = now; // another sleep of the same wait
			return;
		}
		flush(st, prev);
	}
	if (!st) {
		st = bpf_task_storage_get(&sc_wait, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!st)
			return;
	}
	st->start = now;
	st->out_since = now;
	st->last_in = 0;
	st->off_ns = 0;
	st->io_calls = io;
	st->nr = nr;
	st->phase = phase;
	st->seccomp_mode = prev->seccomp.mode;
	__builtin_memset(&st->peer, 0, sizeof(st->peer));
	if (nr == connect_nr) // prev is current: its memory is readable here
		read_peer((const void *)BPF_CORE_READ(regs, si), BPF_CORE_READ(regs, dx), &st->peer);
}

static __always_inline void switch_in(struct task_struct *next, __u64 now)
{
	struct sc_wait *st = bpf_task_storage_get(&sc_wait, next, 0, 0);

	if (!st || !st->out_since)
		return;
	st->off_ns += now - st->out_since;
	st->out_since = 0;
	st->last_in = now;
	st->run_in = next->se.sum_exec_runtime;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_syscall_switch, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_boot_ns();

	if (prev->pid)
		switch_out(prev, prev_state, now);
	if (next->pid)
		switch_in(next, now);
	return 0;
}
