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

#define AF_INET 2
#define AF_INET6 10
#define TASK_COMM_LEN 16

// Event types. The Go decoder (receiver/ebpfreceiver/internal/event) mirrors
// this list; keep the numbers stable, they are the wire format.
enum event_type {
	EVENT_TCP_RETRANSMIT = 1,
	EVENT_TCP_CONNECTION = 2,
	EVENT_TCP_RESET = 3,
	EVENT_SKB_DROP = 4,
	EVENT_NET_TX_TIMEOUT = 5,
	EVENT_SCHED_DELAY = 6,
	EVENT_BLOCK_IO = 7,
	EVENT_SYSCALL_SLOW = 8,
	EVENT_OOM_KILL = 9,
	EVENT_TCP_ESTABLISHED = 10,
	EVENT_CPU_THROTTLED = 11, // a thread's wait while its CFS group was throttled (sched.c)
	EVENT_CPU_STEAL = 12,     // per-process steal: only counted in events_lost (sched.c)
	EVENT_BLOCK_IO_UNTRACKED = 13, // a block request the full in_flight table could not hold: only counted in events_lost (blockio.c)
};

// 48 bytes, every field naturally aligned; no implicit padding.
struct event_header {
	__u64 ts_ns;     // bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME
	__u64 cgroup_id; // cgroup v2 id of the task in whose context the event fired
	__u32 type;      // enum event_type
	__u32 pid;       // tgid, 0 when not in process context / unknown
	__u32 tid;
	__u32 _pad;
	char comm[TASK_COMM_LEN];
};

// 48 bytes. Addresses are 16 bytes; IPv4 uses the first 4.
struct sock_tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport; // host byte order
	__u16 dport; // host byte order
	__u16 family;
	__u8 protocol; // IPPROTO_TCP / IPPROTO_UDP
	__u8 state;    // TCP state at the event
	__u32 netns;   // network namespace inode
	__u32 _pad;
};

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

// Which end of a connection a kernel.tcp.established record describes.
enum established_side {
	ESTABLISHED_CONNECT = 1,  // this end called connect()
	ESTABLISHED_ACCEPT = 2,   // accepted from a listener
	ESTABLISHED_EXISTING = 3, // found established by the start-up snapshot
};

// 104 bytes: a TCP socket reached ESTABLISHED (or was found established),
// with its owner in the header and the time it was established (or seen).
struct tcp_established_event {
	struct event_header hdr;
	struct sock_tuple tuple;
	__u8 side; // enum established_side
	__u8 _pad[7];
};

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
