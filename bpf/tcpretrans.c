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

// Force the type into BTF so bpf2go can emit the Go mirror used in tests.
const struct tcp_retransmit_event *unused_tcp_retransmit_event __attribute__((unused));

SEC("tracepoint/tcp/tcp_retransmit_skb")
int handle_tcp_retransmit_skb(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
	struct tcp_retransmit_event *e;
	const struct sock *sk = ctx->skaddr;

	e = reserve_event(sizeof(*e), EVENT_TCP_RETRANSMIT);
	if (!e)
		return 0;

	fill_header(&e->hdr, EVENT_TCP_RETRANSMIT, false);
	header_from_owner(&e->hdr, sk);

	__builtin_memset(&e->tuple, 0, sizeof(e->tuple));
	e->tuple.family = ctx->family;
	e->tuple.protocol = IPPROTO_TCP;
	e->tuple.sport = ctx->sport;
	e->tuple.dport = ctx->dport;
	e->tuple.state = (__u8)ctx->state;
	if (ctx->family == AF_INET) {
		// The verifier refuses loads through a ctx pointer plus offset, so
		// array fields of the tracepoint record are copied with a helper.
		bpf_probe_read_kernel(e->tuple.saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(e->tuple.daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e->tuple.saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->tuple.daddr, 16, ctx->daddr_v6);
	}
	e->tuple.netns = sock_netns(sk);
	e->err = bpf_core_field_exists(ctx->err) ? ctx->err : 0;
	e->_pad = 0;

	bpf_ringbuf_submit(e, 0);
	return 0;
}
