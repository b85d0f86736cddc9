// Package contract names the kernel-event log records that flow from the
// ebpf receiver to the isolation_join processor (docs/design.md §3). Both sides, and
// every test, use these constants so the interface has one spelling.
package contract

import (
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Event names (the log record's EventName; also written as the event.name
// attribute for backends that predate the EventName field).
const (
	EventTCPRetransmit         = "kernel.tcp.retransmit"
	EventTCPConnection         = "kernel.tcp.connection"
	EventTCPReset              = "kernel.tcp.reset"
	EventSKBDrop               = "kernel.skb.drop"
	EventNetTxTimeout          = "kernel.net.tx_timeout"
	EventSchedDelay            = "kernel.sched.delay"
	EventCgroupThrottle        = "kernel.cgroup.throttle"
	EventBlockIO               = "kernel.block.io"
	EventSyscallSlow           = "kernel.syscall.slow"
	EventOOMKill               = "kernel.oom.kill"
	EventCPUSteal              = "kernel.cpu.steal"
	EventKernelLog             = "kernel.log"
	EventConntrackInsertFailed = "kernel.conntrack.insert_failed"
	// A TCP connection reached ESTABLISHED (connect or accept side), or was
	// found established when the receiver started, with its owner: the
	// processor's connection table is built from these and
	// kernel.tcp.connection (the close).
	EventTCPEstablished = "kernel.tcp.established"
)

// Values of AttrTCPEstablishedSide.
const (
	EstablishedConnect  = "connect"  // this end called connect()
	EstablishedAccept   = "accept"   // this end was accepted from a listener
	EstablishedExisting = "existing" // found established at start (snapshot)
)

// Values of AttrTCPRetransmitKind.
const (
	RetransmitFast    = "fast"    // fast retransmit / recovery (dup ACKs, SACK)
	RetransmitTimeout = "timeout" // the retransmission timer fired (RTO, loss state)
	RetransmitOther   = "other"   // neither (e.g. a probe, or the state is unknown)
)

// Attribute keys, semantic-convention names first.
const (
	AttrEventName = "event.name"

	AttrNetworkTransport    = string(semconv.NetworkTransportKey)
	AttrNetworkType         = string(semconv.NetworkTypeKey)
	AttrNetworkLocalAddress = string(semconv.NetworkLocalAddressKey)
	AttrNetworkLocalPort    = string(semconv.NetworkLocalPortKey)
	AttrNetworkPeerAddress  = string(semconv.NetworkPeerAddressKey)
	AttrNetworkPeerPort     = string(semconv.NetworkPeerPortKey)
	AttrNetnsInode          = "linux.netns.inode"

	AttrProcessPID        = string(semconv.ProcessPIDKey)
	AttrThreadID          = string(semconv.ThreadIDKey)
	AttrProcessExecutable = string(semconv.ProcessExecutableNameKey)
	AttrContainerID       = string(semconv.ContainerIDKey)
	AttrCgroupPath        = "linux.cgroup.path"
	AttrCgroupID          = "linux.cgroup.id"

	AttrTCPSrttUs        = "tcp.srtt_us"
	AttrTCPRetransmits   = "tcp.retransmits"
	AttrTCPBytesSent     = "tcp.bytes_sent"
	AttrTCPBytesReceived = "tcp.bytes_received"
	AttrTCPDurationMs    = "tcp.duration_ms"
	AttrTCPState         = "tcp.state"
	AttrSKBDropReason    = "skb.drop.reason"
	AttrNetworkInterface = string(semconv.NetworkInterfaceNameKey)
	// The driver behind network.interface.name ("virtio_net", or the link
	// kind of a virtual device: "veth", "bridge").
	AttrNetworkInterfaceDriver = "network.interface.driver"
	AttrNetworkQueueIndex      = "network.queue.index"
	// "sent" or "received".
	AttrTCPResetDirection = "tcp.reset.direction"
	// The kernel's sk_rst_reason name (sent resets only).
	AttrTCPResetReason = "tcp.reset.reason"
	// kernel.tcp.connection: true when the socket closed from SYN_SENT.
	AttrTCPConnectFailed = "tcp.connect.failed"
	// kernel.tcp.established: which end this socket is ("connect",
	// "accept", "existing").
	AttrTCPEstablishedSide = "tcp.established.side"
	// kernel.tcp.retransmit: how long the retransmitted segment had waited
	// since its previous transmission (the measured cost of the loss to
	// this segment), and whether a timeout or fast recovery resent it.
	AttrTCPRetransmitWaitNs = "tcp.retransmit.wait_ns"
	AttrTCPRetransmitKind   = "tcp.retransmit.kind"
	// Conntrack insertions that failed since the previous reading.
	AttrConntrackInsertFailed = "conntrack.insert_failed"

	AttrSchedDelayNs           = "sched.delay_ns"
	AttrCgroupThrottledNs      = "cgroup.cpu.throttled_ns"
	AttrCgroupThrottledPeriods = "cgroup.cpu.throttled_periods"
	AttrCPUStealNs             = "cpu.steal_ns"

	AttrBlockDevice    = "block.device"
	AttrBlockLatencyNs = "block.latency_ns"
	AttrBlockOp        = "block.op"

	AttrSyscallName      = "syscall.name"
	AttrSyscallLatencyNs = "syscall.latency_ns"
	AttrSyscallPhase     = "syscall.phase"
	AttrSeccompMode      = "process.seccomp.mode"

	AttrIsolationLayer = "isolation.layer"

	// Host-side facts beyond docs/design.md §3's table (issue 7).
	AttrBlockQueueNs = "block.queue_ns"
	AttrBlockBytes   = "block.bytes"
	AttrBlockSector  = "block.sector"
	AttrBlockError   = "block.error"
	// A loop device's backing disk (the device holding its backing file)
	// and that disk's driver ("virtio_blk").
	AttrBlockBackingDevice = "block.backing_device"
	AttrBlockBackingDriver = "block.backing_device.driver"
	AttrSyscallReturn      = "syscall.return"
	// Time off CPU within a slow syscall's wait (syscall.latency_ns is the
	// wait's wall time: first switch-out to last switch-in).
	AttrSyscallOffCPUNs = "syscall.off_cpu_ns"
	// On a kernel.syscall.slow record of syscall.phase "sandbox" (a window
	// of a sandboxed thread's syscall traps, gVisor's ptrace platform): how
	// many traps syscall.latency_ns sums; interval.start/duration_ns bound
	// the window, process.pid is the tracer's (the Sentry's) process and
	// thread.id the traced stub thread.
	AttrSyscallSandboxTraps = "syscall.sandbox.traps"
	// On node- or cgroup-wide CPU records (cpu.stat throttling, /proc/stat
	// steal): true when the same node also sends per-thread records of that
	// loss (kernel.cgroup.throttle / kernel.cpu.steal with process.pid), so
	// the aggregate is evidence only for spans whose process is unknown.
	AttrPerThreadEvidence   = "kernel.per_thread_evidence"
	AttrCgroupIOLimit       = "linux.cgroup.io.limit"
	AttrMemcgPath           = "linux.memcg.path"
	AttrProcessTotalVMPages = "process.memory.total_vm_pages"
	AttrCPU                 = "cpu.logical_number"
	AttrIntervalStart       = "interval.start"
	AttrIntervalNs          = "interval.duration_ns"
	AttrLogKeyword          = "kernel.log.keyword"
	AttrLogFacility         = "kernel.log.facility"
	// The device, driver or node-level subsystem a kernel.log line is
	// about (vda, eth0, virtio0, a PCI address, cpu, kvm): only such a line
	// is node-wide evidence; one naming a process carries process.pid.
	AttrLogDevice = "kernel.log.device"
)

// Isolation layers (docs/design.md §1), plus the two verdicts that are not a layer.
const (
	LayerL0      = "L0"
	LayerL1      = "L1"
	LayerL2      = "L2"
	LayerL3      = "L3"
	LayerL4      = "L4"
	LayerNetwork = "network"
	LayerApp     = "app"
)
