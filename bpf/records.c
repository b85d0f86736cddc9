// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// No programs: this object exists so that bpf2go emits the Go types of every
// ring-buffer record and of the enums in records.h into the receiver's event
// package (its //go:generate line names them with -type). The pointers
// below put each type into the object's BTF.
#include "vmlinux.h"
#include "records.h"

const enum event_type *unused_event_type __attribute__((unused));
const enum established_side *unused_established_side __attribute__((unused));
const enum retransmit_kind *unused_retransmit_kind __attribute__((unused));
const struct tcp_retransmit_event *unused_tcp_retransmit_event __attribute__((unused));
const struct tcp_connection_event *unused_tcp_connection_event __attribute__((unused));
const struct tcp_established_event *unused_tcp_established_event __attribute__((unused));
const struct tcp_reset_event *unused_tcp_reset_event __attribute__((unused));
const struct skb_drop_event *unused_skb_drop_event __attribute__((unused));
const struct net_tx_timeout_event *unused_net_tx_timeout_event __attribute__((unused));
const struct sched_delay_event *unused_sched_delay_event __attribute__((unused));
const struct cpu_throttled_event *unused_cpu_throttled_event __attribute__((unused));
const struct block_io_event *unused_block_io_event __attribute__((unused));
const struct syscall_event *unused_syscall_event __attribute__((unused));
const struct oom_kill_event *unused_oom_kill_event __attribute__((unused));
