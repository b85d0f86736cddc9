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

#define S_IFMT_BITS 00170000
#define S_IFSOCK_BITS 0140000

// Resolve fd of task t (current: its file table is stable under us) to its
// TCP socket's two ends, the walk fd → files → struct file → socket →
// sock; nothing when fd is not an IP TCP socket.
static __always_inline void read_sock_fd(struct task_struct *t, __u64 fd, struct sc_peer *local, struct sc_peer *peer)
{
	struct fdtable *fdt;
	struct file **fds, *f = 0;
	struct socket *so;
	struct sock *sk;
	__u16 family;
	__u32 netns;

	fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return;
	// private_data is a struct socket only on a socket's file.
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_BITS) != S_IFSOCK_BITS)
		return;
	so = BPF_CORE_READ(f, private_data);
	sk = so ? BPF_CORE_READ(so, sk) : 0;
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return;
	netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (family == AF_INET) {
		bpf_core_read(local->addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(peer->addr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(local->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(peer->addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	local->family = peer->family = family;
	local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	peer->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	local->netns = peer->netns = netns;
}

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
