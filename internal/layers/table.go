package layers

import "github.com/crosshair-otel/crosshair/internal/contract"

// Default is the rule table (docs/design.md §5). The receiver writes each
// record's isolation.layer from it; the processor applies it to records
// that carry none (and its OverRecord rows to every record). First match
// wins; an event no row matches is evidence for no layer.
var Default = Table{
	// Syscalls.
	{Event: contract.EventSyscallSlow, When: []Cond{Is(contract.AttrSyscallPhase, "entry")}, Layer: contract.LayerL4,
		Why: "waited before the syscall ran: the seccomp user-notify / ptrace slow path of a sandbox"},
	{Event: contract.EventSyscallSlow, When: []Cond{Is(contract.AttrSyscallPhase, "sandbox")}, Layer: contract.LayerL4,
		Why: "a gVisor ptrace-platform stub's syscall traps, summed over a burst of work (the span is charged its overlap share, weighed as measured)"},
	{Event: contract.EventSyscallSlow, When: []Cond{InSandboxRuntime}, Layer: contract.LayerL4,
		Why: "a slow body in a sandbox runtime's process is the sandbox's slow path"},
	{Event: contract.EventSyscallSlow, When: []Cond{IdleWaitCall}, Layer: contract.LayerApp,
		Why: "the application waiting for itself, whatever isolates it: not evidence"},
	{Event: contract.EventSyscallSlow, When: []Cond{Set(contract.AttrCgroupIOLimit), LimitedIOCall}, Layer: contract.LayerL3,
		Why: "the cgroup's IO limit holds the IO before it becomes a request (invisible at the block layer)"},
	{Event: contract.EventSyscallSlow, Layer: contract.LayerApp,
		Why: "any other slow body is the process's own time (a blocking socket read, a sleep): being in a container is placement, not a cause"},

	// CPU.
	{Event: contract.EventSchedDelay, When: []Cond{InContainerCgroup, Set(FactCPULimit)}, Layer: contract.LayerL3,
		Why: "run-queue delay under the container's CPU quota (the receiver reads the limit from /proc; the record does not carry it)"},
	{Event: contract.EventSchedDelay, Layer: contract.LayerApp,
		Why: "without a CPU limit, or on the host, plain CPU contention of the node"},
	{Event: contract.EventCgroupThrottle, Layer: contract.LayerL3,
		Why: "the container's CPU quota stopped the thread (or the cgroup, over an interval)"},
	{Event: contract.EventCPUSteal, Layer: contract.LayerL1,
		Why: "the hypervisor ran something else on this vCPU's physical CPU"},

	// Memory and connection tracking.
	{Event: contract.EventOOMKill, Layer: contract.LayerL3, Why: "the container's memory limit"},
	{Event: contract.EventConntrackInsertFailed, Layer: contract.LayerL3, Why: "the node's connection-tracking table of the container network"},

	// Block IO.
	{Event: contract.EventBlockIO, When: []Cond{VirtioDiskOf(contract.AttrBlockBackingDevice), IsNot(contract.AttrIsolationLayer, contract.LayerApp)}, Layer: contract.LayerL2, OverRecord: true,
		Why: "a loop device on a virtio disk: its request completes when the backing disk's does (virtio-blk queue latency), whatever layer the record names unless app"},
	{Event: contract.EventBlockIO, When: []Cond{BlockFailed}, Layer: contract.LayerL0,
		Why: "a failed request is the device's: hardware"},
	{Event: contract.EventBlockIO, When: []Cond{VirtioDriverOf(contract.AttrBlockBackingDriver)}, Layer: contract.LayerL2,
		Why: "a loop device whose backing disk has a virtio driver: virtio-blk queue latency"},
	{Event: contract.EventBlockIO, When: []Cond{VirtioDiskOf(contract.AttrBlockDevice), GuestQueueDominates}, Layer: contract.LayerL2,
		Why: "a virtio disk's request waited mostly in the guest-side (paravirtual) queue"},
	{Event: contract.EventBlockIO, When: []Cond{VirtioDiskOf(contract.AttrBlockDevice)}, Layer: contract.LayerL1,
		Why: "a virtio disk's request time beyond its queue is the host's backing store"},
	{Event: contract.EventBlockIO, When: []Cond{Prefix(contract.AttrBlockDevice, "loop", "dm-")}, Layer: contract.LayerL3,
		Why: "loop and device-mapper volumes are container/host storage stacks"},
	{Event: contract.EventBlockIO, Layer: contract.LayerL0, Why: "any other disk is physical"},

	// Network.
	{Event: contract.EventSKBDrop, When: []Cond{Prefix(contract.AttrSKBDropReason, "NETFILTER", "IPTABLES")}, Layer: contract.LayerL3,
		Why: "netfilter (the container network's policy) dropped it"},
	{Event: contract.EventSKBDrop, When: []Cond{Is(contract.AttrNetworkInterfaceDriver, "veth", "bridge")}, Layer: contract.LayerL3,
		Why: "dropped on the container's virtual devices"},
	{Event: contract.EventSKBDrop, When: []Cond{VirtioDriverOf(contract.AttrNetworkInterfaceDriver)}, Layer: contract.LayerL2,
		Why: "dropped on a paravirtual NIC"},
	{Event: contract.EventSKBDrop, Layer: contract.LayerNetwork, Why: "anything else is the node's network path"},
	{Event: contract.EventNetTxTimeout, When: []Cond{VirtioDriverOf(contract.AttrNetworkInterfaceDriver)}, Layer: contract.LayerL2,
		Why: "a virtio NIC's transmit queue is drained by the host"},
	{Event: contract.EventNetTxTimeout, Layer: contract.LayerL0, Why: "any other driver is a NIC of this machine"},
	{Event: contract.EventTCPRetransmit, Layer: contract.LayerNetwork,
		Why: "loss beyond the node, unless a local drop explains it or the peer is on this node in a container/sandbox (the processor decides); charged its measured `kernel.tcp.retransmit.wait_ns`"},
	{Event: contract.EventTCPReset, Layer: contract.LayerNetwork,
		Why: "the peer's (or this side's) deliberate answer, not a layer's fault"},
	{Event: contract.EventTCPConnection, Layer: contract.LayerNetwork,
		Why: "a closed connection's statistics (srtt, retransmit count): no time by itself"},
	{Event: contract.EventTCPEstablished, Layer: contract.LayerNetwork,
		Why: "the owner of a socket, for the connection table: no time by itself"},
}
