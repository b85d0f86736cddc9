// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// The ring-buffer wire format: every record the BPF programs write and the
// enums their fields hold. The programs include it through common.h;
// records.c compiles it alone so that bpf2go generates the Go decoder's
// types and the event-type enum from this one definition
// (receiver/ebpfreceiver/internal/event). Keep the numbers stable.
#pragma once

#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN 16
#endif
#define IFNAMSIZ 16
#define DRIVER_LEN 16
// A victim's executable basename; longer names are cut (the receiver
// prefers /proc/<pid>/exe while the process is still there).
#define EXE_NAME_LEN 64

// Event types (the header's type; the index of events_lost). bpf2go exports
// the enum to the Go decoder; keep the numbers stable, they are the wire
// format.
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

// Which cgroup a task is in. On a pure cgroup v2 host (and for tasks in a v2
// cgroup of a hybrid host) the v2 id; for tasks that live only in v1 cgroups
// (the v2 id is the root's, 1) the id of their v1 cgroup of the given
// controller, which equals the inode of its directory under
// /sys/fs/cgroup/<controller>. hier says which: 0 = v2, else the v1
// controller's enum cgroup_subsys_id + 1.
struct cg_key {
	__u64 id;
	__u32 hier;
	__u32 _pad;
};

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

// Values of tcp_retransmit_event.kind.
enum retransmit_kind {
	RETRANSMIT_UNKNOWN = 0, // not read (fallback program)
	RETRANSMIT_FAST = 1,
	RETRANSMIT_TIMEOUT = 2,
	RETRANSMIT_OTHER = 3,
};

struct tcp_retransmit_event {
	struct event_header hdr;
	struct sock_tuple tuple;
	__s32 err;
	__u8 kind; // enum retransmit_kind
	__u8 _pad[3];
	__u64 wait_ns; // since the segment's previous transmission; 0: not measured
};

struct tcp_connection_event {
	struct event_header hdr;
	struct sock_tuple tuple;
	__u64 duration_ns; // 0 when the open was not seen (socket older than the probe)
	__u64 bytes_sent;  // tcp_sock.bytes_acked
	__u64 bytes_received;
	__u32 srtt_us;
	__u32 total_retrans;
	__u8 oldstate; // the state the socket closed from (SYN_SENT: failed connect)
	__u8 _pad[7];
};

struct tcp_reset_event {
	struct event_header hdr;
	struct sock_tuple tuple;
	__u32 reason;   // enum sk_rst_reason (sent only)
	__u8 direction; // RESET_SENT / RESET_RECEIVED
	__u8 _pad[3];
};

struct skb_drop_event {
	struct event_header hdr;
	struct sock_tuple tuple;
	__u32 reason; // enum skb_drop_reason
	__u32 ifindex;
	char ifname[IFNAMSIZ];
	char driver[DRIVER_LEN]; // the device's driver ("virtio_net") or link kind ("veth")
	__u64 location; // kernel address that dropped it
};

struct net_tx_timeout_event {
	struct event_header hdr;
	char device[IFNAMSIZ];
	char driver[32];
	__s32 queue_index;
	__u32 netns;
};

struct sched_delay_event {
	struct event_header hdr;
	__u64 delay_ns;
	struct cg_key cg; // the task's cgroup (v1 cpu controller when not in v2)
};

struct cpu_throttled_event {
	struct event_header hdr;
	__u64 throttled_ns;
	struct cg_key cg;
};

struct block_io_event {
	struct event_header hdr;
	__u64 latency_ns; // issue → complete
	__u64 queue_ns;   // insert → issue (0 when not inserted)
	__u64 sector;
	__u32 dev;        // kernel dev_t: major << 20 | minor
	__u32 bytes;
	__u32 op;         // REQ_OP_*
	__s32 error;      // blk_status_t, block_rq_error only
};

// One end of the socket a syscall waited on: a connect()'s sockaddr
// argument (the peer), or a socket read/write's TCP socket (both ends).
// family 0 = none (another syscall, not an IP socket, unreadable).
struct sc_peer {
	__u8 addr[16];  // IPv4 in the first 4 bytes
	__u16 family;   // AF_INET / AF_INET6
	__u16 port;     // host order
	__u32 netns;    // the socket's network namespace inode (socket calls; 0 = unknown)
};

struct syscall_event {
	struct event_header hdr; // ts_ns: when the wait ended
	__u64 latency_ns;     // wall time of the wait
	__s64 ret;            // SC_HAS_RET only
	struct cg_key cg;
	__u32 nr;
	__u32 phase;          // PHASE_*
	__u32 seccomp_mode;   // task->seccomp.mode at the event
	__u32 flags;          // SC_*
	struct sc_peer peer;  // connect: the address connected to; socket calls: the socket's peer
	__u64 off_cpu_ns;     // time off CPU within latency_ns
	__u64 window_start;   // PHASE_SANDBOX: first trap of the window (boot ns); else 0
	__u64 traps;          // PHASE_SANDBOX: traps summed in latency_ns; else 0
	struct sc_peer local; // socket calls only: the socket's own end
};

struct oom_kill_event {
	struct event_header hdr;
	struct cg_key memcg;
	__u64 total_vm_pages;
	__u32 uid;
	__u32 _pad;
	// Basename of the victim's mm->exe_file, read at the kill: by the time
	// the receiver decodes the record the process is gone and
	// /proc/<pid>/exe with it. "" when unreadable.
	char exe[EXE_NAME_LEN];
};
