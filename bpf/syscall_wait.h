// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Slow-syscall waits tracked at sched_switch (see syscall.c for the design),
// shared by syscall.c (the syscall_slow probe on its own) and sched.c (one
// sched_switch program for sched_delay and syscall_slow when both run, so a
// context switch pays one program and one task-storage lookup per task).
// The including object keeps a struct sc_wait per task in task storage.
#pragma once

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
// Waits shorter than this are not counted at all (the join ignores slow
// syscalls under 1ms as noise too); keeps a context-switch-heavy workload
// from paying a histogram update per switch.
const volatile __u64 min_wait_ns = 1000000;
const volatile __u32 connect_nr = 42; // __NR_connect (set from user space)
// Sandbox traps (a ptrace-traced thread stopped at a syscall while its
// tracer runs it: gVisor's ptrace platform). A stop up to max_trap_ns is the
// interception's round trip; a longer one in a syscall that can wait for
// someone else (trap_waits: an idle epoll, a futex, a sleep, a socket read)
// is the application's own blocking wait that the tracer serves and is not
// summed. A long stop in any other syscall (a file read, a stat, a write)
// is still the round trip: the tracer was slow to serve it (on a busy node
// the Sentry waits for a CPU), and is summed.
// Traps are summed per thread over a window that ends at the next long
// stop or after trap_window_ns; a window whose sum reaches min_wait_ns
// becomes a record (PHASE_SANDBOX).
const volatile __u64 max_trap_ns = 1000000;
const volatile __u64 trap_window_ns = 100000000;
// Bitmap of the syscalls that may block on another party (set from user
// space): a long trap in one of them is a wait, not the sandbox's cost.
const volatile __u64 trap_waits[8] = {};
// Bitmap of the watched syscall numbers (set from user space).
const volatile __u64 watched[8] = {};
// Bitmap of the socket read/write calls whose first argument is the fd
// (write, writev, sendto, sendmsg, read, readv, recvfrom, recvmsg): their
// wait names the socket (set from user space).
const volatile __u64 sock_calls[8] = {};

// Per-thread state (kept in task local storage by the including object).
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
	// Sandbox traps of the current window.
	__u64 trap_out;   // switch-out into a traced syscall stop; 0 = none
	__u64 trap_first; // start of the window's first trap; 0 = none
	__u64 trap_last;  // end of its last trap
	__u64 trap_sum;
	__u64 trap_count;
	__u32 trap_nr;     // the last trapped syscall
	__u32 trap_tracer; // the tracer's tgid (the Sentry)
	struct sc_peer local;
};


static __always_inline bool is_watched(long nr)
{
	if (nr < 0 || nr >= 512)
		return false;
	return (watched[(nr >> 6) & 7] >> (nr & 63)) & 1;
}

static __always_inline bool may_wait(long nr)
{
	if (nr < 0 || nr >= 512)
		return true;
	return (trap_waits[(nr >> 6) & 7] >> (nr & 63)) & 1;
}

static __always_inline bool is_sock_call(long nr)
{
	if (nr < 0 || nr >= 512)
		return false;
	return (sock_calls[(nr >> 6) & 7] >> (nr & 63)) & 1;
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
	if (lat < min_wait_ns)
		return; // a short sleep (IPC ping-pong): neither histogram nor record
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
	e->local = st->local;
	e->off_cpu_ns = st->off_ns;
	e->window_start = 0;
	e->traps = 0;
	bpf_ringbuf_submit(e, 0);
}

// The trap window of st is over: a record of the traced thread, in the
// name of its tracer's process (the sandbox: with gVisor the Sentry owns
// the sockets, so it is the process spans resolve to), thread id the stub's.
static __always_inline void trap_flush(struct sc_wait *st, struct task_struct *t)
{
	struct syscall_event *e;

	if (st->trap_sum >= min_wait_ns && (e = reserve_event(sizeof(*e), EVENT_SYSCALL_SLOW))) {
		fill_header_task(&e->hdr, EVENT_SYSCALL_SLOW, t);
		if (st->trap_tracer)
			e->hdr.pid = st->trap_tracer;
		e->hdr.ts_ns = st->trap_last;
		e->latency_ns = st->trap_sum;
		e->ret = 0;
		task_cg_key(t, bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id), &e->cg);
		e->nr = st->trap_nr;
		e->phase = PHASE_SANDBOX;
		e->seccomp_mode = t->seccomp.mode;
		e->flags = 0;
		__builtin_memset(&e->peer, 0, sizeof(e->peer));
		__builtin_memset(&e->local, 0, sizeof(e->local));
		e->off_cpu_ns = st->trap_sum;
		e->window_start = st->trap_first;
		e->traps = st->trap_count;
		bpf_ringbuf_submit(e, 0);
	}
	st->trap_first = 0;
	st->trap_sum = 0;
	st->trap_count = 0;
}

// A traced thread comes back from a stop that began at st->trap_out.
static __always_inline void trap_end(struct sc_wait *st, struct task_struct *t, __u64 now)
{
	__u64 out = st->trap_out, d = now - out;
	bool wait = d > max_trap_ns && may_wait(st->trap_nr);

	st->trap_out = 0;
	if (!wait) {
		if (!st->trap_first)
			st->trap_first = out;
		st->trap_sum += d;
		st->trap_count++;
		st->trap_last = now;
	}
	// A long stop is the application blocked (waiting for its next request
	// or a downstream reply): the burst of work before it is a window of its
	// own, so windows follow the requests' active parts.
	if (st->trap_first && (wait || now - st->trap_first >= trap_window_ns))
		trap_flush(st, t);
}

// The switch-out half: st is prev's state (NULL when it has none yet).
// Returns true when a new wait begins: the caller then passes prev's state
// (created if need be) to sc_begin with the same w.
struct sc_out {
	struct pt_regs *regs;
	long nr;
	__u64 io;
	__u32 phase;
	bool trap; // prev stops traced at a syscall: the caller calls trap_begin
};

// Whether t's tracer emulates its syscalls (PTRACE_SYSEMU: gVisor's ptrace
// platform, User-mode Linux): the syscall then runs in the tracer during the
// stop. The flag stays set while the tracee is stopped (the tracer resumes
// it with PTRACE_SYSEMU each time). Generic-entry kernels (x86_64; s390,
// loongarch, riscv) keep it in thread_info.syscall_work; elsewhere false.
static __always_inline bool sysemu(struct task_struct *t)
{
	if (!bpf_core_field_exists(t->thread_info.syscall_work) ||
	    !bpf_core_enum_value_exists(enum syscall_work_bit, SYSCALL_WORK_BIT_SYSCALL_EMU))
		return false;
	return (t->thread_info.syscall_work >> bpf_core_enum_value(enum syscall_work_bit, SYSCALL_WORK_BIT_SYSCALL_EMU)) & 1;
}

// prev stops in a ptrace syscall-emulation stop (a signal stop has no
// syscall number): the tracer runs the syscall meanwhile.
static __always_inline void trap_begin(struct sc_wait *st, struct task_struct *prev, __u64 now, const struct sc_out *w)
{
	st->trap_out = now;
	st->trap_nr = w->nr;
	st->trap_tracer = prev->parent->tgid; // a traced task's parent is its tracer
}

static __always_inline bool sc_switch_out(struct sc_wait *st, struct task_struct *prev, unsigned int state, __u64 now, struct sc_out *w)
{
	__u64 ran;

	w->nr = -1;
	w->trap = false;
	w->regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (state == 0) {
		// Preempted, still runnable: run-queue time, not the syscall's
		// wait. Preempted in user mode (or in another syscall) it has
		// left the pending one.
		if (st && st->start) {
			if (w->regs)
				w->nr = REGS_SYSCALL_NR(w->regs);
			if (w->nr != (long)st->nr)
				flush(st, prev);
		}
		return false;
	}
	if (w->regs)
		w->nr = REGS_SYSCALL_NR(w->regs); // -1 outside a syscall (interrupt/exception frame)
	w->trap = (state & TASK_TRACED_BIT) && w->nr >= 0 && w->nr < 512 && sysemu(prev);
	// An emulated syscall's stop is the syscall itself (trap accounting
	// above), not a supervisor's wait before it: no entry wait.
	if ((state & TASK_DEAD_BIT) || w->trap || !is_watched(w->nr)) {
		if (st && st->start)
			flush(st, prev);
		return false;
	}
	w->phase = phase_of(prev, state);
	w->io = prev->ioac.syscr + prev->ioac.syscw;
	if (st && st->start) {
		ran = prev->se.sum_exec_runtime - st->run_in;
		if (st->nr == (__u32)w->nr && st->phase == w->phase && st->io_calls == w->io && ran <= max_cpu_gap_ns) {
			st->out_since = now; // another sleep of the same wait
			return false;
		}
		flush(st, prev);
	}
	return true;
}

static __always_inline void sc_begin(struct sc_wait *st, struct task_struct *prev, __u64 now, const struct sc_out *w)
{
	st->start = now;
	st->out_since = now;
	st->last_in = 0;
	st->off_ns = 0;
	st->io_calls = w->io;
	st->nr = w->nr;
	st->phase = w->phase;
	st->seccomp_mode = prev->seccomp.mode;
	__builtin_memset(&st->peer, 0, sizeof(st->peer));
	__builtin_memset(&st->local, 0, sizeof(st->local));
	if (!w->regs)
		return;
	if (w->nr == connect_nr) // prev is current: its memory is readable here
		read_peer((const void *)REGS_SYSCALL_ARG2(w->regs), REGS_SYSCALL_ARG3(w->regs), &st->peer);
	else if (is_sock_call(w->nr)) // a wait on a socket is that connection's, not its process's
		read_sock_fd(prev, REGS_SYSCALL_ARG1(w->regs), &st->local, &st->peer);
}

static __always_inline void sc_switch_in(struct sc_wait *st, struct task_struct *next, __u64 now)
{
	if (st->trap_out)
		trap_end(st, next, now);
	if (!st->out_since)
		return;
	st->off_ns += now - st->out_since;
	st->out_since = 0;
	st->last_in = now;
	st->run_in = next->se.sum_exec_runtime;
}
