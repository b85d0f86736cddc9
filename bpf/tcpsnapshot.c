// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Start-up snapshot of the TCP connections already established, with their
// owners: a task_file iterator walks every task's open files once, right
// after the connection-lifecycle program attached. For each TCP socket in
// ESTABLISHED or CLOSE_WAIT it records the task as the socket's owner in
// sock_owners (so later retransmits and closes on pooled connections opened
// before the collector started name their process) and writes one
// kernel.tcp.established record with side=existing, stamped with the
// snapshot time. Listening sockets and non-TCP files are skipped.
//
// One record per socket: the kernel's task_file iterator already skips
// threads that share their leader's file table, and the sock_owners insert
// is BPF_NOEXIST, so a socket held by several processes (inherited across
// fork, passed over a unix socket), or already owned because it was
// connected after the probe attached, is not reported again. An accepted
// socket that established after the probe attached but was not yet claimed
// by a send or receive is reported as accept, with its establishment time.
//
// For each record the iterator writes one byte to its output, so the
// receiver counts the sockets it found.
#include "common.h"
#include "established.h"

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define TCP_ESTABLISHED 1
#define TCP_CLOSE_WAIT 8

SEC("iter/task_file")
int snapshot_tcp(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;
	struct sock_owner o = {};
	struct sock_tuple t = {};
	struct socket *so;
	struct sock *sk;
	__u64 key, ts, *pending;
	__u8 side = ESTABLISHED_EXISTING, state, one = 1;
	__u16 family;

	if (!file || !task)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	so = BPF_CORE_READ(file, private_data);
	if (!so)
		return 0;
	sk = BPF_CORE_READ(so, sk);
	// An O_PATH file on a socket inode has no struct socket behind it:
	// insist on the sock pointing back at it.
	if (!sk || BPF_CORE_READ(sk, sk_socket) != so)
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state != TCP_ESTABLISHED && state != TCP_CLOSE_WAIT)
		return 0;

	ts = bpf_ktime_get_boot_ns();
	o.pid = BPF_CORE_READ(task, tgid);
	o.tid = BPF_CORE_READ(task, pid);
	o.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_INTO(&o.comm, task, comm);
	key = (__u64)sk;
	if (bpf_map_update_elem(&sock_owners, &key, &o, BPF_NOEXIST))
		return 0; // owned already: reported at connect/accept, or by another holder
	pending = bpf_map_lookup_elem(&accept_pending, &key);
	if (pending) {
		__u64 established = *pending;
		if (!bpf_map_delete_elem(&accept_pending, &key)) {
			side = ESTABLISHED_ACCEPT;
			ts = established;
		}
	}
	o.start_ns = ts;
	bpf_map_update_elem(&sock_owners, &key, &o, BPF_ANY);
	tuple_from_sock(&t, sk);
	// Woken: a large snapshot drains while it is written.
	emit_established(&t, side, ts, &o, 0);
	bpf_seq_write(ctx->meta->seq, &one, sizeof(one));
	return 0;
}
