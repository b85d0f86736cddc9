// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// net:net_dev_xmit_timeout → kernel.net.tx_timeout: the stack's watchdog
// found a transmit queue stuck (on a virtio NIC: the host stopped draining
// the virtqueue, an L2 stall). Counted per device in the kernel.
#include "common.h"

const struct net_tx_timeout_event *unused_net_tx_timeout_event __attribute__((unused));

struct tx_timeout_key {
	char device[IFNAMSIZ];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tx_timeout_key);
	__type(value, __u64);
} tx_timeouts SEC(".maps");

SEC("tracepoint/net/net_dev_xmit_timeout")
int handle_net_dev_xmit_timeout(struct trace_event_raw_net_dev_xmit_timeout *ctx)
{
	struct net_tx_timeout_event *e;
	struct tx_timeout_key key = {};
	__u64 one = 1, *n;
	// __data_loc fields: low 16 bits offset from the record start, high 16 length.
	__u32 name_off = ctx->__data_loc_name & 0xffff;
	__u32 drv_off = ctx->__data_loc_driver & 0xffff;

	bpf_probe_read_kernel_str(key.device, sizeof(key.device), (void *)ctx + name_off);
	n = bpf_map_lookup_elem(&tx_timeouts, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&tx_timeouts, &key, &one, BPF_NOEXIST);

	e = reserve_event(sizeof(*e), EVENT_NET_TX_TIMEOUT);
	if (!e)
		return 0;
	fill_header(&e->hdr, EVENT_NET_TX_TIMEOUT, false);
	__builtin_memcpy(e->device, key.device, sizeof(e->device));
	__builtin_memset(e->driver, 0, sizeof(e->driver));
	bpf_probe_read_kernel_str(e->driver, sizeof(e->driver), (void *)ctx + drv_off);
	e->queue_index = ctx->queue_index;
	e->netns = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
