// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// kernel.tcp.established records, written by the connection-lifecycle
// program (connect and accept sides) and the start-up snapshot iterator.
#pragma once

#include "common.h"

// Accepted sockets established but not yet claimed by a task: when each
// was established (boot time), keyed by struct sock *. LRU: a socket no
// task ever reads or writes cannot pin an entry. Owned by the
// connection-lifecycle object; the snapshot iterator gets it as a
// replacement so both see one map.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} accept_pending SEC(".maps");

// Write one tcp_established_event stamped ts (boot time) for the socket
// tuple t, owned by o (NULL: owner unknown). flags: 0, or
// BPF_RB_NO_WAKEUP for records that can wait for the receiver's next poll.
static __always_inline void emit_established(const struct sock_tuple *t, __u8 side, __u64 ts,
					     const struct sock_owner *o, __u64 flags)
{
	struct tcp_established_event *e;

	e = reserve_event(sizeof(*e), EVENT_TCP_ESTABLISHED);
	if (!e)
		return;
	fill_header(&e->hdr, EVENT_TCP_ESTABLISHED, false);
	if (o) {
		e->hdr.pid = o->pid;
		e->hdr.tid = o->tid;
		e->hdr.cgroup_id = o->cgroup_id;
		__builtin_memcpy(e->hdr.comm, o->comm, sizeof(e->hdr.comm));
	}
	e->hdr.ts_ns = ts;
	e->tuple = *t;
	e->side = side;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	bpf_ringbuf_submit(e, flags);
}
