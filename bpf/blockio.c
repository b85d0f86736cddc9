// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Block request latency (biolatency): block_rq_insert records the issuing
// task (it runs in the submitter's context), block_rq_issue the time the
// request reaches the driver, block_rq_complete the end. Every request goes
// into an in-kernel log2 histogram per device and op; only a request over
// min_latency_ns crosses the ring buffer as kernel.block.io, and
// block_rq_error always does.
#include "host.h"

const volatile __u64 min_latency_ns = 50000000;

#define REQ_OP_MASK_ ((1U << 8) - 1)

struct rq_info {
	__u64 insert_ns;
	__u64 issue_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
};

struct blk_key {
	__u32 dev;
	__u32 op;
};

// Plain hashes (no LRU bookkeeping per request): every request that is
// issued completes or fails, which removes it.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); // struct request *
	__type(value, struct rq_info);
} in_flight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct blk_key);
	__type(value, struct log2_hist);
} block_hist SEC(".maps");

const struct block_io_event *unused_block_io_event __attribute__((unused));
const struct blk_key *unused_blk_key __attribute__((unused));

static __always_inline __u32 rq_dev(struct request *rq)
{
	struct gendisk *disk = rq->q->disk;
	if (!disk)
		return 0;
	return ((__u32)disk->major << 20) | (__u32)disk->first_minor;
}

// The submitter, cheaply: pid and cgroup only. Its command is resolved in
// user space (/proc/<pid>/comm) for the few requests that become events.
static __always_inline void owner_from_current(struct rq_info *i)
{
	__u64 id = bpf_get_current_pid_tgid();
	i->pid = id >> 32;
	i->tid = (__u32)id;
	i->cgroup_id = bpf_get_current_cgroup_id();
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(handle_block_rq_insert, struct request *rq)
{
	struct rq_info i;
	__u64 key = (__u64)rq;

	i.issue_ns = 0;
	i.insert_ns = bpf_ktime_get_boot_ns();
	owner_from_current(&i);
	if (bpf_map_update_elem(&in_flight, &key, &i, BPF_ANY))
		count_lost(EVENT_BLOCK_IO_UNTRACKED); // table full: its latency goes unmeasured
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(handle_block_rq_issue, struct request *rq)
{
	__u64 key = (__u64)rq;
	struct rq_info n, *i;

	// Most requests are issued directly, without an insert: we are still
	// in the submitter and one insert is all it takes. When block_rq_insert
	// saw the request first, the insert fails and we stamp its entry.
	n.insert_ns = 0;
	n.issue_ns = bpf_ktime_get_boot_ns();
	owner_from_current(&n);
	if (!bpf_map_update_elem(&in_flight, &key, &n, BPF_NOEXIST))
		return 0;
	i = bpf_map_lookup_elem(&in_flight, &key);
	if (i)
		i->issue_ns = n.issue_ns;
	else
		count_lost(EVENT_BLOCK_IO_UNTRACKED); // neither inserted nor present: table full
	return 0;
}

static __always_inline void emit(struct request *rq, struct rq_info *i, __u64 lat, __s32 error)
{
	struct block_io_event *e = reserve_event(sizeof(*e), EVENT_BLOCK_IO);
	if (!e)
		return;
	e->hdr.ts_ns = bpf_ktime_get_boot_ns();
	e->hdr.type = EVENT_BLOCK_IO;
	e->hdr._pad = 0;
	if (i) {
		e->hdr.pid = i->pid;
		e->hdr.tid = i->tid;
		e->hdr.cgroup_id = i->cgroup_id;
		__builtin_memset(e->hdr.comm, 0, sizeof(e->hdr.comm));
		e->queue_ns = i->insert_ns && i->issue_ns > i->insert_ns ? i->issue_ns - i->insert_ns : 0;
	} else {
		e->hdr.pid = 0;
		e->hdr.tid = 0;
		e->hdr.cgroup_id = 0;
		__builtin_memset(e->hdr.comm, 0, sizeof(e->hdr.comm));
		e->queue_ns = 0;
	}
	e->latency_ns = lat;
	e->sector = rq->__sector;
	e->dev = rq_dev(rq);
	e->bytes = rq->__data_len;
	e->op = rq->cmd_flags & REQ_OP_MASK_;
	e->error = error;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(handle_block_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct rq_info *i = bpf_map_lookup_elem(&in_flight, &key);
	struct blk_key k;
	__u64 lat;

	if (!i)
		return 0;
	if (!i->issue_ns) {
		bpf_map_delete_elem(&in_flight, &key);
		return 0;
	}
	lat = bpf_ktime_get_boot_ns() - i->issue_ns;
	k.dev = rq_dev(rq);
	k.op = rq->cmd_flags & REQ_OP_MASK_;
	hist_add(&block_hist, &k, lat);
	// Failed requests are reported by block_rq_error.
	if (lat >= min_latency_ns && !error)
		emit(rq, i, lat, 0);
	bpf_map_delete_elem(&in_flight, &key);
	return 0;
}

SEC("tp_btf/block_rq_error")
int BPF_PROG(handle_block_rq_error, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct rq_info *i = bpf_map_lookup_elem(&in_flight, &key);
	__u64 lat = 0;

	if (i && i->issue_ns)
		lat = bpf_ktime_get_boot_ns() - i->issue_ns;
	emit(rq, i, lat, error ? error : -1);
	return 0;
}
