// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// The slow-syscall record and histogram key, shared by the scheduler-based
// probe (syscall.c, the default) and the syscall-tracepoint fallback
// (syscall_tp.c).
#pragma once

#include "host.h"
#include "regs.h"

#define PHASE_BODY 0
#define PHASE_ENTRY 1
// A window of a ptrace-traced thread's syscall traps (a gVisor ptrace-platform
// stub, whose tracer, the Sentry, runs each syscall on its behalf).
#define PHASE_SANDBOX 2
#define SECCOMP_MODE_FILTER 2

// syscall_event.flags
#define SC_HAS_RET 1 // ret is the syscall's return value (tracepoint fallback only)

// The peer of a connect(): its sockaddr argument. family 0 = none (another
// syscall, or an unreadable/non-IP sockaddr).
struct sc_peer {
	__u8 addr[16];  // IPv4 in the first 4 bytes
	__u16 family;   // AF_INET / AF_INET6
	__u16 port;     // host order
	__u32 _pad;
};

struct syscall_event {
	struct event_header hdr; // ts_ns: when the wait ended
	__u64 latency_ns;     // wall time of the wait
	__s64 ret;            // SC_HAS_RET only
	struct cg_key cg;
	__u32 nr;
	__u32 phase;          // PHASE_*
	__u32 seccomp_mode;   // task->seccomp.mode at the event
	__u32 flags;          // SC_*
	struct sc_peer peer;  // connect only: the address connected to
	__u64 off_cpu_ns;     // time off CPU within latency_ns
	__u64 window_start;   // PHASE_SANDBOX: first trap of the window (boot ns); else 0
	__u64 traps;          // PHASE_SANDBOX: traps summed in latency_ns; else 0
};

struct sc_key {
	struct cg_key cg;
	__u32 nr;
	__u32 phase;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct sc_key);
	__type(value, struct log2_hist);
} syscall_hist SEC(".maps");

const struct syscall_event *unused_syscall_event __attribute__((unused));
const struct sc_key *unused_sc_key __attribute__((unused));

// Read a connect()'s sockaddr argument from user memory (the calling task
// must be current).
static __always_inline void read_peer(const void *uaddr, __u64 addrlen, struct sc_peer *peer)
{
	__u16 family = 0;

	if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr))
		return;
	if (family == AF_INET && addrlen >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		if (!bpf_probe_read_user(&sin, sizeof(sin), uaddr)) {
			peer->family = AF_INET;
			peer->port = bpf_ntohs(sin.sin_port);
			__builtin_memcpy(peer->addr, &sin.sin_addr, 4);
		}
	} else if (family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;
		if (!bpf_probe_read_user(&sin6, sizeof(sin6), uaddr)) {
			peer->family = AF_INET6;
			peer->port = bpf_ntohs(sin6.sin6_port);
			__builtin_memcpy(peer->addr, &sin6.sin6_addr, 16);
		}
	}
}
