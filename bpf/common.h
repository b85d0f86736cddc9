// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Shared pieces of every Crosshair BPF program: the event header that starts
// every ring-buffer record, the socket tuple, and the two maps that all
// programs share (the receiver creates them once and hands them to each
// object through MapReplacements, so there is one ring buffer per node).
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "records.h"

#define AF_INET 2
#define AF_INET6 10

// One ring buffer for every program. The receiver sizes it from config
// before load (MaxEntries is replaced), so the size here is a placeholder.
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

// Ring-buffer reservations that failed, counted per CPU and per event type
// (index = enum event_type), read by the receiver as its own telemetry.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} events_lost SEC(".maps");

// Count a loss of the given type in events_lost (a ring buffer that was
// full, or a probe's own table that was).
static __always_inline void count_lost(__u32 type)
{
	__u64 *lost = bpf_map_lookup_elem(&events_lost, &type);
	if (lost)
		__sync_fetch_and_add(lost, 1);
}

// Reserve a record of the given size on the shared ring buffer, counting the
// reservation in events_lost when the buffer is full.
static __always_inline void *reserve_event(__u64 size, __u32 type)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e) {
		__u64 *lost = bpf_map_lookup_elem(&events_lost, &type);
		if (lost)
			__sync_fetch_and_add(lost, 1);
	}
	return e;
}

// Fill the header from the current task. In softirq context (timers,
// packet receive) "current" is whichever task was interrupted, so callers
// that know they are not in process context pass with_task = false.
static __always_inline void fill_header(struct event_header *h, __u32 type, bool with_task)
{
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->type = type;
	h->_pad = 0;
	if (with_task) {
		__u64 id = bpf_get_current_pid_tgid();
		h->pid = id >> 32;
		h->tid = (__u32)id;
		h->cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(h->comm, sizeof(h->comm));
	} else {
		h->pid = 0;
		h->tid = 0;
		h->cgroup_id = 0;
		__builtin_memset(h->comm, 0, sizeof(h->comm));
	}
}

// The owner of a socket, captured in process context (connect/accept) by the
// connection-lifecycle program so that events fired later in softirq context
// (retransmit timers, drops) can name the process. Keyed by struct sock *.
struct sock_owner {
	__u64 cgroup_id;
	__u64 start_ns; // when the connection was opened (boot time)
	__u32 pid;
	__u32 tid;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sock_owner);
} sock_owners SEC(".maps");

// Copy the owner of sk (when known) into the header.
static __always_inline void header_from_owner(struct event_header *h, const void *sk)
{
	__u64 key = (__u64)sk;
	struct sock_owner *o = bpf_map_lookup_elem(&sock_owners, &key);
	if (!o)
		return;
	h->pid = o->pid;
	h->tid = o->tid;
	h->cgroup_id = o->cgroup_id;
	__builtin_memcpy(h->comm, o->comm, sizeof(h->comm));
}

static __always_inline __u32 sock_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

// The socket's 5-tuple as the local side sees it, read from struct sock
// (for hooks that get a sock but no tracepoint record of its addresses).
static __always_inline void tuple_from_sock(struct sock_tuple *t, const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	t->family = family;
	t->protocol = IPPROTO_TCP;
	t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	t->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (family == AF_INET) {
		bpf_core_read(t->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(t->daddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(t->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	t->netns = sock_netns(sk);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
