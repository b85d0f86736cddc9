// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// FALLBACK for kernels where the scheduler-based probe (syscall.c) cannot
// load (no tp_btf or bpf_task_pt_regs). Enabling any syscall tracepoint puts
// every syscall of every task on the kernel's tracing slow path, so this is
// never attached by default. Two phases:
// - body: sys_enter_X → sys_exit_X on the per-syscall tracepoints of the
//   configured syscalls only;
// - entry: the wait a seccomp user-notify (or ptrace) filter imposes before
//   sys_enter fires (seccomp runs first in syscall entry). A task in seccomp
//   filter mode that goes to sleep with a syscall number in its saved
//   registers (orig_ax) but no sys_enter seen is parked in syscall entry; its
//   sys_enter then closes the wait.
#include "syscall.h"

const volatile __u64 min_latency_ns = 50000000;       // body
const volatile __u64 min_entry_latency_ns = 10000000; // entry

struct sc_start {
	__u64 ts;
	__u64 nr;
};

struct sc_state {
	struct sc_start in_syscall; // sys_enter seen, sys_exit not yet
	struct sc_start entry_wait; // asleep in syscall entry (seccomp/ptrace)
	struct sc_peer peer;        // in_syscall's connect peer
};

// Per-thread state in task local storage: no hashing or bucket lock on
// every syscall, freed with the thread (a thread killed inside a syscall
// leaves nothing behind). ts == 0 means "none".
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sc_state);
} sc_state SEC(".maps");

// The per-syscall tracepoints' records (events/syscalls/sys_*_X/format).
struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
};

struct sys_enter_connect_ctx {
	__u64 common;
	__s32 nr;
	__s32 _pad;
	__u64 fd;
	__u64 uservaddr; // struct sockaddr __user *
	__u64 addrlen;
};

struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__s32 _pad;
	__s64 ret;
};

static __always_inline void record(__u32 nr, __u32 phase, __u64 lat, __s64 ret, const struct sc_peer *peer)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct syscall_event *e;
	struct sc_key k = {};

	task_cg_key(t, bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id), &k.cg);
	k.nr = nr;
	k.phase = phase;
	hist_add(&syscall_hist, &k, lat);
	if (lat < (phase == PHASE_ENTRY ? min_entry_latency_ns : min_latency_ns))
		return;
	e = reserve_event(sizeof(*e), EVENT_SYSCALL_SLOW);
	if (!e)
		return;
	fill_header(&e->hdr, EVENT_SYSCALL_SLOW, true);
	e->latency_ns = lat;
	e->ret = ret;
	e->cg = k.cg;
	e->nr = nr;
	e->phase = phase;
	e->seccomp_mode = t->seccomp.mode;
	e->flags = phase == PHASE_BODY ? SC_HAS_RET : 0;
	e->peer = *peer;
	e->off_cpu_ns = lat;
	e->window_start = 0;
	e->traps = 0;
	__builtin_memset(&e->local, 0, sizeof(e->local)); // the fallback does not resolve sockets
	bpf_ringbuf_submit(e, 0);
}

static __always_inline int on_enter(__u32 nr, const struct sc_peer *peer)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct sc_state *st = bpf_task_storage_get(&sc_state, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	__u64 now = bpf_ktime_get_boot_ns();

	if (!st)
		return 0;
	if (st->entry_wait.ts) {
		__u64 wait_ts = st->entry_wait.ts, wait_nr = st->entry_wait.nr;
		st->entry_wait.ts = 0;
		if (wait_nr == nr && now > wait_ts)
			record(nr, PHASE_ENTRY, now - wait_ts, 0, peer);
	}
	st->in_syscall.ts = now;
	st->in_syscall.nr = nr;
	st->peer = *peer;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter")
int handle_systp_enter(struct sys_enter_ctx *ctx)
{
	struct sc_peer none = {};

	return on_enter((__u32)ctx->nr, &none);
}

// connect's own sys_enter: the same, plus the sockaddr it connects to (a
// separate program because the generic one must not read past the shortest
// tracepoint record it is attached to).
SEC("tracepoint/syscalls/sys_enter_connect")
int handle_systp_enter_connect(struct sys_enter_connect_ctx *ctx)
{
	struct sc_peer peer = {};

	read_peer((const void *)ctx->uservaddr, ctx->addrlen, &peer);
	return on_enter((__u32)ctx->nr, &peer);
}

SEC("tracepoint/syscalls/sys_exit")
int handle_systp_exit(struct sys_exit_ctx *ctx)
{
	struct sc_state *st = bpf_task_storage_get(&sc_state, bpf_get_current_task_btf(), 0, 0);
	struct sc_peer peer;
	__u64 ts, nr;

	if (!st || !st->in_syscall.ts)
		return 0;
	ts = st->in_syscall.ts;
	nr = st->in_syscall.nr;
	peer = st->peer;
	st->in_syscall.ts = 0;
	record(nr, PHASE_BODY, bpf_ktime_get_boot_ns() - ts, ctx->ret, &peer);
	return 0;
}

// Only tasks under a seccomp filter that go to sleep are looked at; for
// every other switch this is two loads and a return.
SEC("tp_btf/sched_switch")
int BPF_PROG(handle_systp_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	struct sc_state *st;
	struct pt_regs *regs;
	long nr;

	if (prev_state == 0 || prev->seccomp.mode != SECCOMP_MODE_FILTER)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (!regs)
		return 0;
	nr = REGS_SYSCALL_NR_CORE(regs);
	if (nr < 0)
		return 0; // not in a syscall
	st = bpf_task_storage_get(&sc_state, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	if (st->in_syscall.ts && st->in_syscall.nr == (__u64)nr)
		return 0; // sleeping inside the body: sys_exit will account it
	if (st->entry_wait.ts && st->entry_wait.nr == (__u64)nr)
		return 0; // already waiting in entry: keep the first sleep
	st->entry_wait.ts = bpf_ktime_get_boot_ns();
	st->entry_wait.nr = nr;
	return 0;
}
