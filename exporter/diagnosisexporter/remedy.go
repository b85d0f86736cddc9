package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"

import (
	"strings"
)

// defaultRemedies is the built-in remedy table, consulted in order after
// the configured rules: the first row whose layer matches and whose match
// string occurs in the cause gives the hint.
var defaultRemedies = []RemedyRule{
	{Layer: "L4", Match: "syscall", Hint: "the sandbox's slow path holds the syscall: allow it in the sandbox profile (seccomp/gVisor/Kata policy) or make the supervisor answer faster"},
	{Layer: "L4", Hint: "the sandbox runtime (gVisor Sentry/Gofer, Kata, WASM) is slow: check its logs and profile, or run this workload without the sandbox"},
	{Layer: "L3", Match: "throttl", Hint: "raise the container's CPU quota (cgroup cpu.cfs_quota_us / cpu.max, Kubernetes CPU limit) or cut the CPU work per request"},
	{Layer: "L3", Match: "oom", Hint: "raise the container's memory limit (memory.max / Kubernetes memory limit) or reduce its working set"},
	{Layer: "L3", Match: "drop", Hint: "packets of this connection are dropped on the node (netfilter/veth/conntrack): check nftables/iptables rules, network policies and conntrack table size on the pod's path"},
	{Layer: "L3", Match: "conntrack", Hint: "conntrack insert failures: raise nf_conntrack_max or spread the connections"},
	{Layer: "L3", Match: "sched", Hint: "the container waits for CPU: raise its CPU request/limit or move CPU-heavy neighbours off the node"},
	{Layer: "L3", Match: "io", Hint: "the container's IO is throttled (blkio / io.max): raise its IO limit or move the IO elsewhere"},
	{Layer: "L3", Hint: "the container layer (cgroups, namespaces, veth, seccomp profile) holds the request: check the pod's limits and network path"},
	{Layer: "L2", Match: "neighbour", Hint: "a noisy neighbour saturates the shared virtual device: move the noisy neighbour (or give it an IO limit) and check the virtio queue depth"},
	{Layer: "L2", Hint: "check the virtio queue (virtio-net/virtio-blk): queue stalls, vhost threads, the device's load from other tenants; move the noisy neighbour"},
	{Layer: "L1", Match: "steal", Hint: "the hypervisor runs other vCPUs on this VM's CPUs (steal time): move the VM or reserve dedicated CPUs"},
	{Layer: "L1", Hint: "the hypervisor or host backing store is saturated: check the host's disk and CPU, or move the VM"},
	{Layer: "L0", Hint: "hardware faults (machine check, device errors, NIC drops): drain the node and have the hardware checked"},
	{Layer: "network", Hint: "packets are lost beyond this node: check the path to the peer (switches, load balancers, the peer node)"},
	{Layer: "app", Hint: "no isolation layer shows evidence: the time is in the application's own code of the slow hop — profile it"},
	{Hint: "the span was not joined with kernel evidence: check that the isolation_join processor and the ebpf receiver run on this span's node"},
}

func remedy(rules []RemedyRule, layer, cause, service string) string {
	lc := strings.ToLower(cause)
	for _, table := range [][]RemedyRule{rules, defaultRemedies} {
		for _, r := range table {
			if r.Layer != "" && r.Layer != layer {
				continue
			}
			if r.Match != "" && !strings.Contains(lc, strings.ToLower(r.Match)) {
				continue
			}
			hint := r.Hint
			if layer == "app" && service != "" {
				hint += " (" + service + ")"
			}
			return hint
		}
	}
	return ""
}
