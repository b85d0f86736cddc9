// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// tcp_retransmit_skb → one kernel.tcp.retransmit event per retransmitted
// segment. Retransmits are rare by nature (a loss), so every one crosses the
// ring buffer. The tracepoint fires in softirq/timer context, so the owning
// process comes from sock_owners (filled at connect/accept), not "current".
//
// Each record says what the loss cost: tcp.retransmit.kind from the
// congestion state at the retransmit (Loss: the retransmission timer fired;
// Recovery: fast retransmit) and tcp.retransmit.wait_ns, how long the
// segment had waited since its previous transmission. The tracepoint fires
// after the segment went out again, when the kernel has already restamped
// skb->skb_mstamp_ns with the new transmission time; so the previous
// transmission time is read where a loss episode starts
// (tp_btf/tcp_cong_state_set to Loss or Recovery, before anything is
// resent): the send time of the head of the retransmit queue — the oldest
// unacknowledged segment, the one that stalls the stream. Each retransmit
// of the episode is measured against it (exact for the head; for the
// segments sent after it in the same flight an upper bound whose interval
// overlaps the head's). Outside an episode (a tail-loss probe) the wait is
// the time since the flight last made progress (since_flight_progress).
// tcp_clock_ns is CLOCK_MONOTONIC, i.e. bpf_ktime_get_ns().
#include "common.h"

#define TCP_CA_RECOVERY 3
#define TCP_CA_LOSS 4

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

// Per socket in a loss episode: when the head of its retransmit queue was
// last sent (CLOCK_MONOTONIC), read as the episode started.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} loss_sent SEC(".maps");

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

static __always_inline __u8 retransmit_kind(const struct sock *sk)
{
	const struct inet_connection_sock *icsk = (const struct inet_connection_sock *)sk;
	__u8 state = BPF_CORE_READ_BITFIELD_PROBED(icsk, icsk_ca_state);

	if (state == TCP_CA_LOSS)
		return RETRANSMIT_TIMEOUT;
	if (state == TCP_CA_RECOVERY)
		return RETRANSMIT_FAST;
	return RETRANSMIT_OTHER;
}

static __always_inline void submit_retransmit(const struct sock *sk, const struct sock_tuple *t, int err, __u8 kind,
					      __u64 wait_ns)
{
	struct tcp_retransmit_event *e;

	count_retransmit(t);
	e = reserve_event(sizeof(*e), EVENT_TCP_RETRANSMIT);
	if (!e)
		return;
	fill_header(&e->hdr, EVENT_TCP_RETRANSMIT, false);
	header_from_owner(&e->hdr, sk);
	e->tuple = *t;
	e->err = err;
	e->kind = kind;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	e->wait_ns = wait_ns;
	bpf_ringbuf_submit(e, 0);
}

// The head of the socket's retransmit queue (an rbtree ordered by sequence):
// its leftmost node. An rbtree of n nodes is at most 2*log2(n+1) deep.
static __always_inline const struct sk_buff *rtx_queue_head(const struct sock *sk)
{
	struct rb_node *n = BPF_CORE_READ(sk, tcp_rtx_queue.rb_node), *left;

	if (!n)
		return NULL;
	for (int i = 0; i < 48; i++) {
		left = BPF_CORE_READ(n, rb_left);
		if (!left)
			break;
		n = left;
	}
	return (const struct sk_buff *)((void *)n - bpf_core_field_offset(struct sk_buff, rbnode));
}

// Outside a loss episode (a tail-loss probe in the Open state, or an
// episode that began before the probe attached): the time since the flight
// made progress — since it started (first_tx_mstamp, reset when the
// connection was idle, so for a request that fits one segment its exact
// send time) or since the last delivery (delivered_mstamp), whichever is
// later. Both are tcp_clock_us() stamps: CLOCK_MONOTONIC in µs.
static __always_inline __u64 since_flight_progress(const struct sock *sk, __u64 now_ns)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 first = BPF_CORE_READ(tp, first_tx_mstamp), delivered = BPF_CORE_READ(tp, delivered_mstamp);
	__u64 since = first > delivered ? first : delivered, now_us = now_ns / 1000;

	if (!since || now_us <= since)
		return 0;
	return (now_us - since) * 1000;
}

SEC("tp_btf/tcp_cong_state_set")
int BPF_PROG(handle_tcp_cong_state_set, struct sock *sk, const __u8 ca_state)
{
	const struct sk_buff *head;
	__u64 key = (__u64)sk, sent;

	if (ca_state != TCP_CA_LOSS && ca_state != TCP_CA_RECOVERY) {
		bpf_map_delete_elem(&loss_sent, &key);
		return 0;
	}
	// Every timeout re-enters Loss, so after a backoff the head's stamp is
	// its last retransmission, as it should be.
	head = rtx_queue_head(sk);
	if (!head)
		return 0;
	sent = BPF_CORE_READ(head, skb_mstamp_ns);
	if (sent)
		bpf_map_update_elem(&loss_sent, &key, &sent, BPF_ANY);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(handle_tcp_retransmit_btf, const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct sock_tuple t = {};
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns(), wait = 0, *sent;
	__u8 kind = retransmit_kind(sk);

	tuple_from_sock(&t, sk);
	sent = bpf_map_lookup_elem(&loss_sent, &key);
	if (sent && kind != RETRANSMIT_OTHER && now > *sent)
		wait = now - *sent;
	else
		wait = since_flight_progress(sk, now);
	submit_retransmit(sk, &t, err, kind, wait);
	return 0;
}

// Fallback for kernels where tp_btf cannot attach: the classic tracepoint,
// with the kind but no wait.
SEC("tracepoint/tcp/tcp_retransmit_skb")
int handle_tcp_retransmit_skb(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
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
	submit_retransmit(sk, &t, bpf_core_field_exists(ctx->err) ? ctx->err : 0, retransmit_kind(sk), 0);
	return 0;
}
