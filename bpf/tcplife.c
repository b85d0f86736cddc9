// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Connection lifecycle on sock:inet_sock_set_state (the tracepoint
// equivalent of bcc's tcplife). When a TCP socket reaches CLOSE, one
// kernel.tcp.connection record carries its 5-tuple, netns, lifetime, bytes,
// srtt and total retransmits (CO-RE reads of struct tcp_sock). A connect
// that fails (SYN_SENT → CLOSE) is reported the same way with the peer.
// When a socket reaches ESTABLISHED, one kernel.tcp.established record
// names its owner, so a connection table can say which process held which
// 5-tuple from when to when.
//
// The owner of the socket is captured in process context and kept in the
// shared sock_owners map, so every other probe can name the process; it is
// deleted when the socket closes.
//  - connect side: CLOSE → SYN_SENT runs in the connecting task. The
//    established record follows at SYN_SENT → ESTABLISHED (softirq: the
//    owner comes from sock_owners).
//  - accept side: SYN_RECV → ESTABLISHED runs in softirq with no owner in
//    sight, so the socket waits in accept_pending until a task that holds
//    it is seen, which becomes the owner; the record is written then,
//    stamped with the time the connection was established. Claimed by
//    whichever comes first: the receiver's periodic walk of every task's
//    files (bpf/tcpsnapshot.c, run only while accept_pending is not
//    empty); the owner's own close()/shutdown() (ESTABLISHED → FIN_WAIT1
//    and CLOSE_WAIT → LAST_ACK run in that task), so a short connection
//    is named before its close record; and, when enabled, its first send
//    or receive (sock:sock_send_length / sock:sock_recv_length,
//    socket-path tracepoints — not syscall ones; off by default, they
//    fire on every socket send and receive of the node).
//
// Established records are submitted without waking the reader: they are
// not urgent, and the wakeup (an irq_work, a self-IPI in a VM) was most of
// this program's cost (BENCHMARKS.md); the receiver polls the ring buffer
// every flush_interval.
//
// Counters and histograms are kept in the kernel: transitions by
// (old, new) state, srtt at close and connection duration as log2
// histograms. Only closed and established connections cross the ring
// buffer.
#include "common.h"
#include "established.h"
#include "hist.h"

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10

const struct tcp_connection_event *unused_tcp_connection_event __attribute__((unused));
const struct tcp_established_event *unused_tcp_established_event __attribute__((unused));

// When each socket was opened (boot time), keyed by struct sock *.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} conn_start SEC(".maps");

// State transitions, index (old << 4) | new, counted per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} transitions SEC(".maps");

// srtt at close in microseconds, and connection duration in milliseconds.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} srtt_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} duration_hist SEC(".maps");

static __always_inline void owner_from_current(struct sock_owner *o, __u64 start_ns)
{
	__u64 id = bpf_get_current_pid_tgid();
	o->pid = id >> 32;
	o->tid = (__u32)id;
	o->cgroup_id = bpf_get_current_cgroup_id();
	o->start_ns = start_ns;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

// Take an accepted socket out of accept_pending: true, with the time it
// was established, for the one caller that claims it (a send and a receive
// may race on two CPUs; only the successful delete wins).
static __always_inline bool take_pending(__u64 key, __u64 *established)
{
	__u64 *pending = bpf_map_lookup_elem(&accept_pending, &key);

	if (!pending)
		return false;
	*established = *pending;
	return bpf_map_delete_elem(&accept_pending, &key) == 0;
}

// The current task holds the claimed socket: record it as the owner and
// write the accept-side established record, stamped with the
// establishment time.
static __always_inline void claim_for_current(__u64 key, __u64 established, const struct sock_tuple *t)
{
	struct sock_owner o = {};

	owner_from_current(&o, established);
	bpf_map_update_elem(&sock_owners, &key, &o, BPF_ANY);
	emit_established(t, ESTABLISHED_ACCEPT, established, &o, BPF_RB_NO_WAKEUP);
}

// The tracepoint record's 5-tuple (its addresses are arrays in the record:
// the verifier refuses loads through a ctx pointer plus offset, so they are
// copied with a helper).
static __always_inline void tuple_from_ctx(struct sock_tuple *t, struct trace_event_raw_inet_sock_set_state *ctx,
					   int state)
{
	t->family = ctx->family;
	t->protocol = IPPROTO_TCP;
	t->sport = ctx->sport;
	t->dport = ctx->dport;
	t->state = (__u8)state;
	if (ctx->family == AF_INET) {
		bpf_probe_read_kernel(t->saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(t->daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(t->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(t->daddr, 16, ctx->daddr_v6);
	}
	t->netns = sock_netns(ctx->skaddr);
}

// A socket reached ESTABLISHED: the connect side is written now with the
// owner captured at connect(); the accept side waits for its owner.
static __always_inline void on_established(struct trace_event_raw_inet_sock_set_state *ctx, int oldstate, __u64 now)
{
	__u64 key = (__u64)ctx->skaddr;
	struct sock_tuple t = {};

	if (oldstate == TCP_SYN_RECV) {
		bpf_map_update_elem(&accept_pending, &key, &now, BPF_ANY);
		return;
	}
	if (oldstate != TCP_SYN_SENT)
		return;
	tuple_from_ctx(&t, ctx, TCP_ESTABLISHED);
	emit_established(&t, ESTABLISHED_CONNECT, now, bpf_map_lookup_elem(&sock_owners, &key), BPF_RB_NO_WAKEUP);
}

SEC("tracepoint/sock/inet_sock_set_state")
int handle_inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct tcp_connection_event *e;
	const struct sock *sk = ctx->skaddr;
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 key = (__u64)sk, now, *start, *n;
	struct sock_tuple t = {};
	int oldstate = ctx->oldstate, newstate = ctx->newstate;
	__u32 idx, srtt;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	idx = ((oldstate & 15) << 4) | (newstate & 15);
	n = bpf_map_lookup_elem(&transitions, &idx);
	if (n)
		*n += 1;

	now = bpf_ktime_get_boot_ns();
	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV) {
		bpf_map_update_elem(&conn_start, &key, &now, BPF_ANY);
		if (newstate == TCP_SYN_SENT) {
			// tcp_v4_connect / tcp_v6_connect: the connecting task.
			struct sock_owner o = {};
			owner_from_current(&o, now);
			bpf_map_update_elem(&sock_owners, &key, &o, BPF_ANY);
		}
		return 0;
	}
	if (newstate == TCP_ESTABLISHED) {
		on_established(ctx, oldstate, now);
		return 0;
	}
	// close() or shutdown() of a connection: tcp_close_state runs in the
	// task that holds the socket, so an accepted socket nobody claimed yet
	// is named before its close record.
	if ((oldstate == TCP_ESTABLISHED && newstate == TCP_FIN_WAIT1) ||
	    (oldstate == TCP_CLOSE_WAIT && newstate == TCP_LAST_ACK)) {
		__u64 established;
		if (take_pending(key, &established)) {
			tuple_from_ctx(&t, ctx, oldstate);
			claim_for_current(key, established, &t);
		}
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	if (oldstate == TCP_LISTEN) {
		bpf_map_delete_elem(&sock_owners, &key);
		return 0;
	}

	tuple_from_ctx(&t, ctx, oldstate);

	start = bpf_map_lookup_elem(&conn_start, &key);
	__u64 duration = start && now > *start ? now - *start : 0;
	srtt = BPF_CORE_READ(tp, srtt_us) >> 3;
	if (start)
		hist_add(&duration_hist, duration / 1000000);
	if (oldstate != TCP_SYN_SENT)
		hist_add(&srtt_hist, srtt);

	e = reserve_event(sizeof(*e), EVENT_TCP_CONNECTION);
	if (e) {
		fill_header(&e->hdr, EVENT_TCP_CONNECTION, false);
		header_from_owner(&e->hdr, sk);
		e->tuple = t;
		e->duration_ns = duration;
		e->bytes_sent = BPF_CORE_READ(tp, bytes_acked);
		e->bytes_received = BPF_CORE_READ(tp, bytes_received);
		e->srtt_us = srtt;
		e->total_retrans = BPF_CORE_READ(tp, total_retrans);
		e->oldstate = (__u8)oldstate;
		__builtin_memset(e->_pad, 0, sizeof(e->_pad));
		bpf_ringbuf_submit(e, 0);
	}
	bpf_map_delete_elem(&conn_start, &key);
	// A lookup is lock-free; most closing sockets were never pending.
	if (bpf_map_lookup_elem(&accept_pending, &key))
		bpf_map_delete_elem(&accept_pending, &key);
	bpf_map_delete_elem(&sock_owners, &key);
	return 0;
}

// The first send or receive on an accepted socket runs in the task that
// owns it. Every other call (non-TCP, or a socket already claimed) costs
// one field load or one hash miss.
static __always_inline int claim_accepted(struct sock *sk)
{
	struct sock_tuple t = {};
	__u64 key = (__u64)sk, established;

	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (!take_pending(key, &established))
		return 0;
	tuple_from_sock(&t, sk);
	claim_for_current(key, established, &t);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(handle_sock_recv_length, struct sock *sk, int ret, int flags)
{
	return claim_accepted(sk);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(handle_sock_send_length, struct sock *sk, int ret, int flags)
{
	return claim_accepted(sk);
}
