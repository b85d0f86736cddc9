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
#include "syscall_wait.h"

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sc_wait);
} sc_wait SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_syscall_switch, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct sc_wait *st;
	struct sc_out w;

	if (prev->pid) {
		st = bpf_task_storage_get(&sc_wait, prev, 0, 0);
		bool begin = sc_switch_out(st, prev, prev_state, now, &w);
		if (begin || w.trap) {
			if (!st)
				st = bpf_task_storage_get(&sc_wait, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (st && begin)
				sc_begin(st, prev, now, &w);
			if (st && w.trap)
				trap_begin(st, prev, now, &w);
		}
	}
	if (next->pid) {
		st = bpf_task_storage_get(&sc_wait, next, 0, 0);
		if (st)
			sc_switch_in(st, next, now);
	}
	return 0;
}
