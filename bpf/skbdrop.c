// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// skb:kfree_skb → every dropped packet is counted in the kernel by
// (reason, device) for kernel.skb.drops; drops of IPv4/IPv6 TCP/UDP packets
// whose headers are readable also become kernel.skb.drop events, rate-limited
// per CPU so a drop storm cannot flood the ring buffer. Reason numbers are
// named in user space from the kernel's BTF (enum skb_drop_reason).
#include "common.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

const struct skb_drop_event *unused_skb_drop_event __attribute__((unused));

struct drop_key {
	__u32 reason;
	char ifname[IFNAMSIZ];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct drop_key);
	__type(value, __u64);
} drops SEC(".maps");

// Drop reasons of normal socket life (QUEUE_PURGE at socket teardown,
// TCP_OLD_DATA duplicates, …), filled by the receiver at load from
// skb_drop_ignore_reasons: still counted in `drops`, never an event.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} drop_ignore SEC(".maps");

// Events allowed per CPU per second; the receiver sets it before load.
volatile const __u32 max_events_per_sec = 1000;

struct rate {
	__u64 window_ns;
	__u64 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rate);
} drop_rate SEC(".maps");

// Events suppressed by the rate limit (per CPU), exported by the receiver.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drop_events_suppressed SEC(".maps");

static __always_inline bool rate_allow(__u64 now)
{
	__u32 zero = 0;
	struct rate *r = bpf_map_lookup_elem(&drop_rate, &zero);
	if (!r)
		return false;
	if (now - r->window_ns >= 1000000000ULL) {
		r->window_ns = now;
		r->n = 0;
	}
	if (r->n >= max_events_per_sec) {
		__u64 *s = bpf_map_lookup_elem(&drop_events_suppressed, &zero);
		if (s)
			*s += 1;
		return false;
	}
	r->n++;
	return true;
}

static __always_inline void read_driver(const struct net_device *dev, char *out)
{
	const char *name = BPF_CORE_READ(dev, dev.parent, driver, name);
	if (!name)
		name = BPF_CORE_READ(dev, rtnl_link_ops, kind);
	if (name)
		bpf_probe_read_kernel_str(out, DRIVER_LEN, name);
}

SEC("tracepoint/skb/kfree_skb")
int handle_kfree_skb(struct trace_event_raw_kfree_skb *ctx)
{
	struct sk_buff *skb = ctx->skbaddr;
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	struct drop_key key = {};
	struct skb_drop_event *e;
	struct sock_tuple t = {};
	__u64 one = 1, *n, now;
	__u16 proto = ctx->protocol, nh;
	unsigned char *head;
	__u8 l4 = 0;
	__u16 ports[2];

	key.reason = ctx->reason;
	if (dev)
		BPF_CORE_READ_INTO(&key.ifname, dev, name);
	n = bpf_map_lookup_elem(&drops, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&drops, &key, &one, BPF_NOEXIST);
	if (bpf_map_lookup_elem(&drop_ignore, &key.reason))
		return 0; // benign: counted above, no event

	if (proto != ETH_P_IP && proto != ETH_P_IPV6)
		return 0;
	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	if (!head || nh == (__u16)~0U)
		return 0;
	if (proto == ETH_P_IP) {
		struct iphdr ip;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.version != 4)
			return 0;
		l4 = ip.protocol;
		t.family = AF_INET;
		__builtin_memcpy(t.saddr, &ip.saddr, 4);
		__builtin_memcpy(t.daddr, &ip.daddr, 4);
		nh += ip.ihl * 4;
	} else {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) || ip6.version != 6)
			return 0;
		l4 = ip6.nexthdr;
		t.family = AF_INET6;
		bpf_probe_read_kernel(t.saddr, 16, &ip6.saddr);
		bpf_probe_read_kernel(t.daddr, 16, &ip6.daddr);
		nh += sizeof(ip6);
	}
	if (l4 != IPPROTO_TCP && l4 != IPPROTO_UDP)
		return 0;
	if (bpf_probe_read_kernel(ports, sizeof(ports), head + nh))
		return 0;
	now = bpf_ktime_get_boot_ns();
	if (!rate_allow(now))
		return 0;

	t.protocol = l4;
	t.sport = bpf_ntohs(ports[0]);
	t.dport = bpf_ntohs(ports[1]);
	// A received packet (skb_iif set) is seen from this node as peer → local:
	// swap so the tuple is "as the local side sees it".
	if (BPF_CORE_READ(skb, skb_iif)) {
		__u8 tmp[16];
		__u16 p = t.sport;
		__builtin_memcpy(tmp, t.saddr, 16);
		__builtin_memcpy(t.saddr, t.daddr, 16);
		__builtin_memcpy(t.daddr, tmp, 16);
		t.sport = t.dport;
		t.dport = p;
	}
	// The socket that was to receive the packet (rx_sk, kernels ≥ 6.9) or
	// the skb's own socket on transmit; drops past the device layer (TCP
	// discarding old data) have no device.
	const struct sock *sk = bpf_core_field_exists(ctx->rx_sk) ? ctx->rx_sk : NULL;
	if (!sk)
		sk = BPF_CORE_READ(skb, sk);
	if (dev)
		t.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	else if (sk)
		t.netns = sock_netns(sk);

	e = reserve_event(sizeof(*e), EVENT_SKB_DROP);
	if (!e)
		return 0;
	fill_header(&e->hdr, EVENT_SKB_DROP, false);
	e->hdr.ts_ns = now;
	if (sk)
		header_from_owner(&e->hdr, sk);
	e->tuple = t;
	e->reason = key.reason;
	e->ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	__builtin_memcpy(e->ifname, key.ifname, IFNAMSIZ);
	__builtin_memset(e->driver, 0, DRIVER_LEN);
	if (dev)
		read_driver(dev, e->driver);
	e->location = (__u64)ctx->location;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
