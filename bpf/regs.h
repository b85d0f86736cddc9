// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
// Per-architecture access to a task's saved user registers
// (bpf_task_pt_regs): the pending syscall number and the syscall's
// arguments. bpf2go builds one object per architecture (-target
// amd64,arm64) and defines __TARGET_ARCH_<arch> for each.
#pragma once

#if defined(__TARGET_ARCH_arm64)
// vmlinux.h is x86's; arm64's struct pt_regs (arch/arm64/include/asm/ptrace.h)
// as a CO-RE flavor (libbpf's bpf_tracing.h has its own pt_regs___arm64,
// without syscallno): relocations match "pt_regs" in the running kernel's
// BTF, so only the fields used must exist there.
struct pt_regs___chx_arm64 {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
	__u64 orig_x0;
	__s32 syscallno;
} __attribute__((preserve_access_index));

// The syscall number; -1 outside a syscall.
#define REGS_SYSCALL_NR(r) ((long)((struct pt_regs___chx_arm64 *)(r))->syscallno)
#define REGS_SYSCALL_NR_CORE(r) ((long)BPF_CORE_READ((struct pt_regs___chx_arm64 *)(r), syscallno))
// Arguments 1 to 3 (orig_x0, x1, x2: x0 is overwritten by the return
// value, its entry value is orig_x0).
#define REGS_SYSCALL_ARG1(r) (((struct pt_regs___chx_arm64 *)(r))->orig_x0)
#define REGS_SYSCALL_ARG2(r) (((struct pt_regs___chx_arm64 *)(r))->regs[1])
#define REGS_SYSCALL_ARG3(r) (((struct pt_regs___chx_arm64 *)(r))->regs[2])
#elif defined(__TARGET_ARCH_x86)
#define REGS_SYSCALL_NR(r) ((long)(r)->orig_ax)
#define REGS_SYSCALL_NR_CORE(r) ((long)BPF_CORE_READ((r), orig_ax))
#define REGS_SYSCALL_ARG1(r) ((r)->di)
#define REGS_SYSCALL_ARG2(r) ((r)->si)
#define REGS_SYSCALL_ARG3(r) ((r)->dx)
#else
#error "regs.h: build with bpf2go -target amd64,arm64 (__TARGET_ARCH_x86 or __TARGET_ARCH_arm64)"
#endif
