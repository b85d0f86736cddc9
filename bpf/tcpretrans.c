// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// tcp:tcp_retransmit_skb → one kernel.tcp.retransmit event per retransmitted
// segment. Retransmits are rare by nature (a loss), so every one crosses the
// ring buffer. The tracepoint fires in softirq/timer context, so the owning
// process comes from sock_owners (filled at connect/accept), not "current".
#include "common.h"

struct tcp_retransmit_event {
	struct event_header hdr;
	struct sock_tuple tuple;
	__s32 err;
	__u32 _pad;
};

// In-kernel count per connection endpoint for the kernel.tcp.retransmits
// metric: exact even when the ring buffer is full. Keyed by peer
// address/port and local port (the metric's attributes).
struct retrans_key {
	__u8 peer[16];
	__u16 peer_port;
	__u16 local_port;
	__u16 family;
	__u16 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct retrans_key);
	__type(value, __u64);
} retransmits SEC(".maps");

static __always_inline void count_retransmit(const struct sock_tuple *t)
{
	struct retrans_key key = {};
	__u64 one = 1, *n;

	__builtin_memcpy(key.peer, t->daddr, sizeof(key.peer));
	key.peer_port = t->dport;
	key.local_port = t->sport;
	key.family = t->family;
	n = bpf_map_lookup_elem(&retransmits, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&retransmits, &key, &one, BPF_NOEXIST);
}

// Force the type into BTF so bpf2go can emit the Go mirror used in tests.
const struct tcp_retransmit_event *unused_tcp_retransmit_event __attribute__((unused));

SEC("tracepoint/tcp/tcp_retransmit_skb")
int handle_tcp_retransmit_skb(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
	struct tcp_retransmit_event *e;
	const struct sock *sk = ctx->skaddr;
	struct sock_tuple t = {};

	t.family = ctx->family;
	t.protocol = IPPROTO_TCP;
	t.sport = ctx->sport;
	t.dport = ctx->dport;
	t.state = (__u8)ctx->state;
	if (ctx->family == AF_INET) {
		// The verifier refuses loads through a ctx pointer plus offset, so
		// array fields of the tracepoint record are copied with a helper.
		bpf_probe_read_kernel(t.saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(t.daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(t.saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(t.daddr, 16, ctx->daddr_v6);
	}
	t.netns = sock_netns(sk);
	count_retransmit(&t);

	e = reserve_event(sizeof(*e), EVENT_TCP_RETRANSMIT);
	if (!e)
		return 0;
	fill_header(&e->hdr, EVENT_TCP_RETRANSMIT, false);
	header_from_owner(&e->hdr, sk);
	e->tuple = t;
	e->err = bpf_core_field_exists(ctx->err) ? ctx->err : 0;
	e->_pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
