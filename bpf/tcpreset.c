// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// tcp:tcp_send_reset and tcp:tcp_receive_reset → kernel.tcp.reset, one per
// RST (resets are rare: a refused connect, an abort). Counted per direction
// in the kernel for the kernel.tcp.resets metric.
#include "common.h"

#define RESET_SENT 0
#define RESET_RECEIVED 1

const struct tcp_reset_event *unused_tcp_reset_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} resets SEC(".maps");

static __always_inline void count_reset(__u32 direction)
{
	__u64 *n = bpf_map_lookup_elem(&resets, &direction);
	if (n)
		*n += 1;
}

// Read a struct sockaddr_in / sockaddr_in6 copied by the tracepoint.
static __always_inline __u16 from_sockaddr(const __u8 *raw, __u8 *addr, __u16 *port)
{
	__u8 buf[28];
	__u16 family;

	bpf_probe_read_kernel(buf, sizeof(buf), raw);
	family = *(__u16 *)buf;
	*port = bpf_ntohs(*(__u16 *)&buf[2]);
	if (family == AF_INET)
		__builtin_memcpy(addr, &buf[4], 4);
	else if (family == AF_INET6)
		__builtin_memcpy(addr, &buf[8], 16);
	return family;
}

SEC("tracepoint/tcp/tcp_send_reset")
int handle_tcp_send_reset(struct trace_event_raw_tcp_send_reset *ctx)
{
	struct tcp_reset_event *e;
	const struct sock *sk = ctx->skaddr;
	const struct sk_buff *skb = ctx->skbaddr;
	struct sock_tuple t = {};

	count_reset(RESET_SENT);
	// saddr is the RST's sender: this side (the tracepoint reverses the
	// incoming segment's addresses when there is no socket).
	t.family = from_sockaddr(ctx->saddr, t.saddr, &t.sport);
	from_sockaddr(ctx->daddr, t.daddr, &t.dport);
	t.protocol = IPPROTO_TCP;
	t.state = (__u8)ctx->state;
	if (sk)
		t.netns = sock_netns(sk);
	else if (skb)
		t.netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);

	e = reserve_event(sizeof(*e), EVENT_TCP_RESET);
	if (!e)
		return 0;
	fill_header(&e->hdr, EVENT_TCP_RESET, false);
	if (sk)
		header_from_owner(&e->hdr, sk);
	e->tuple = t;
	e->reason = bpf_core_field_exists(ctx->reason) ? ctx->reason : 0;
	e->direction = RESET_SENT;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int handle_tcp_receive_reset(struct trace_event_raw_tcp_event_sk *ctx)
{
	struct tcp_reset_event *e;
	const struct sock *sk = ctx->skaddr;
	struct sock_tuple t = {};

	count_reset(RESET_RECEIVED);
	t.family = ctx->family;
	t.protocol = IPPROTO_TCP;
	t.sport = ctx->sport;
	t.dport = ctx->dport;
	if (ctx->family == AF_INET) {
		bpf_probe_read_kernel(t.saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(t.daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(t.saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(t.daddr, 16, ctx->daddr_v6);
	}
	t.state = BPF_CORE_READ(sk, __sk_common.skc_state);
	t.netns = sock_netns(sk);

	e = reserve_event(sizeof(*e), EVENT_TCP_RESET);
	if (!e)
		return 0;
	fill_header(&e->hdr, EVENT_TCP_RESET, false);
	header_from_owner(&e->hdr, sk);
	e->tuple = t;
	e->reason = 0;
	e->direction = RESET_RECEIVED;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
