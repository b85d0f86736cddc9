// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// oom:mark_victim → kernel.oom.kill for every task the OOM killer picks,
// with the victim's memory cgroup (v2 id in the header, v1 memory
// controller id here) so that the receiver names its memcg even after the
// process is gone. Kills are also counted in the kernel per memcg.
#include "host.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct cg_key);
	__type(value, __u64);
} oom_kills SEC(".maps");

const struct oom_kill_event *unused_oom_kill_event __attribute__((unused));

SEC("tp_btf/mark_victim")
int BPF_PROG(handle_mark_victim, struct task_struct *task, uid_t uid)
{
	struct oom_kill_event *e;
	struct cg_key k;
	const unsigned char *name;
	__u64 one = 1, *n;

	task_cg_key(task, bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id), &k);
	n = bpf_map_lookup_elem(&oom_kills, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&oom_kills, &k, &one, BPF_NOEXIST);

	e = reserve_event(sizeof(*e), EVENT_OOM_KILL);
	if (!e)
		return 0;
	fill_header_task(&e->hdr, EVENT_OOM_KILL, task);
	e->memcg = k;
	e->total_vm_pages = BPF_CORE_READ(task, mm, total_vm);
	e->uid = uid;
	e->_pad = 0;
	e->exe[0] = 0;
	name = BPF_CORE_READ(task, mm, exe_file, f_path.dentry, d_name.name);
	if (name)
		bpf_probe_read_kernel_str(e->exe, sizeof(e->exe), name);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
