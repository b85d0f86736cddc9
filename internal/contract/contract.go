// Package contract names the kernel-event log records that flow from the
// ebpf receiver to the isolation_join processor (docs/design.md §3). Both sides, and
// every test, use these constants so the interface has one spelling.
package contract

import (
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Event names: the log record's EventName field. The receiver writes the
// deprecated event.name attribute too only when its event_name_attribute
// setting asks for it (backends that predate the EventName field); readers
// take EventName first and the attribute as the fallback.
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
	// Not an event: the receiver's promise that every record of its node
	// about anything up to this record's time has been sent — stamped at
	// or before it (accepted sockets' owners claimed late by the poll's
	// walk, kernel log lines read at the poll, included; the scheduler's
	// records written after their stamp to a bound), and every polled sum
	// whose interval starts before it. The join releases a span once
	// it passes the span's window, without waiting for lateness it would
	// otherwise have to assume (docs/design.md §4, holding).
	EventWatermark = "kernel.watermark"
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

// Attribute keys, semantic-convention names first (the semconv package's
// constants where the conventions define the attribute). The project's own
// evidence attributes live under kernel.*, like the event and metric names:
// bare namespaces such as tcp.*, block.* or syscall.* are ones the
// conventions may claim later with another meaning (receiver README,
// "Attribute names").
const (
	// Deprecated by the conventions in favour of the EventName field;
	// written only on request (see above).
	AttrEventName = "event.name"

	AttrNetworkTransport    = string(semconv.NetworkTransportKey)
	AttrNetworkType         = string(semconv.NetworkTypeKey)
	AttrNetworkLocalAddress = string(semconv.NetworkLocalAddressKey)
	AttrNetworkLocalPort    = string(semconv.NetworkLocalPortKey)
	AttrNetworkPeerAddress  = string(semconv.NetworkPeerAddressKey)
	AttrNetworkPeerPort     = string(semconv.NetworkPeerPortKey)
	AttrNetnsInode          = "linux.netns.inode"

	AttrProcessPID = string(semconv.ProcessPIDKey)
	AttrThreadID   = string(semconv.ThreadIDKey)
	// The basename of /proc/<pid>/exe (absent when the process is gone or
	// the link cannot be read).
	AttrProcessExecutable = string(semconv.ProcessExecutableNameKey)
	// The task's comm (its thread name, 15 bytes at most), as the kernel
	// saw it at the event.
	AttrThreadName  = string(semconv.ThreadNameKey)
	AttrContainerID = string(semconv.ContainerIDKey)
	AttrCgroupPath  = "linux.cgroup.path"
	AttrCgroupID    = "linux.cgroup.id"

	AttrTCPSrttUs        = "kernel.tcp.srtt_us"
	AttrTCPRetransmits   = "kernel.tcp.retransmits"
	AttrTCPBytesSent     = "kernel.tcp.bytes_sent"
	AttrTCPBytesReceived = "kernel.tcp.bytes_received"
	AttrTCPDurationMs    = "kernel.tcp.duration_ms"
	// The socket's TCP state, as a network.connection.state value
	// (ConnectionState).
	AttrConnectionState  = string(semconv.NetworkConnectionStateKey)
	AttrSKBDropReason    = "kernel.skb.drop.reason"
	AttrNetworkInterface = string(semconv.NetworkInterfaceNameKey)
	// The driver behind network.interface.name ("virtio_net", or the link
	// kind of a virtual device: "veth", "bridge").
	AttrNetworkInterfaceDriver = "network.interface.driver"
	AttrNetworkQueueIndex      = "network.queue.index"
	// "sent" or "received".
	AttrTCPResetDirection = "kernel.tcp.reset.direction"
	// The kernel's sk_rst_reason name (sent resets only).
	AttrTCPResetReason = "kernel.tcp.reset.reason"
	// kernel.tcp.connection: true when the socket closed from SYN_SENT.
	AttrTCPConnectFailed = "kernel.tcp.connect.failed"
	// kernel.tcp.established: which end this socket is ("connect",
	// "accept", "existing").
	AttrTCPEstablishedSide = "kernel.tcp.established.side"
	// kernel.tcp.retransmit: how long the retransmitted segment had waited
	// since its previous transmission (the measured cost of the loss to
	// this segment), and whether a timeout or fast recovery resent it.
	AttrTCPRetransmitWaitNs = "kernel.tcp.retransmit.wait_ns"
	AttrTCPRetransmitKind   = "kernel.tcp.retransmit.kind"
	// Conntrack insertions that failed since the previous reading.
	AttrConntrackInsertFailed = "kernel.conntrack.insert_failed"

	AttrSchedDelayNs           = "kernel.sched.delay_ns"
	AttrCgroupThrottledNs      = "kernel.cgroup.cpu.throttled_ns"
	AttrCgroupThrottledPeriods = "kernel.cgroup.cpu.throttled_periods"
	AttrCPUStealNs             = "kernel.cpu.steal_ns"

	AttrBlockDevice    = "kernel.block.device"
	AttrBlockLatencyNs = "kernel.block.latency_ns"
	AttrBlockOp        = "kernel.block.op"

	AttrSyscallName      = "kernel.syscall.name"
	AttrSyscallLatencyNs = "kernel.syscall.latency_ns"
	AttrSyscallPhase     = "kernel.syscall.phase"
	AttrSeccompMode      = "process.seccomp.mode"

	AttrIsolationLayer = "isolation.layer"

	// Host-side facts beyond docs/design.md §3's table (issue 7).
	AttrBlockQueueNs = "kernel.block.queue_ns"
	AttrBlockBytes   = "kernel.block.bytes"
	AttrBlockSector  = "kernel.block.sector"
	AttrBlockError   = "kernel.block.error"
	// A loop device's backing disk (the device holding its backing file)
	// and that disk's driver ("virtio_blk").
	AttrBlockBackingDevice = "kernel.block.backing_device"
	AttrBlockBackingDriver = "kernel.block.backing_device.driver"
	AttrSyscallReturn      = "kernel.syscall.return"
	// Time off CPU within a slow syscall's wait (kernel.syscall.latency_ns is the
	// wait's wall time: first switch-out to last switch-in).
	AttrSyscallOffCPUNs = "kernel.syscall.off_cpu_ns"
	// On a kernel.syscall.slow record of kernel.syscall.phase "sandbox" (a window
	// of a sandboxed thread's syscall traps, gVisor's ptrace platform): how
	// many traps kernel.syscall.latency_ns sums; kernel.interval.start/duration_ns bound
	// the window, process.pid is the tracer's (the Sentry's) process and
	// thread.id the traced stub thread.
	AttrSyscallSandboxTraps = "kernel.syscall.sandbox.traps"
	// On node- or cgroup-wide CPU records (cpu.stat throttling, /proc/stat
	// steal): true when the same node also sends per-thread records of that
	// loss (kernel.cgroup.throttle / kernel.cpu.steal with process.pid), so
	// the aggregate is evidence only for spans whose process is unknown.
	AttrPerThreadEvidence   = "kernel.per_thread_evidence"
	AttrCgroupIOLimit       = "linux.cgroup.io.limit"
	AttrMemcgPath           = "linux.memcg.path"
	AttrProcessTotalVMPages = "process.memory.total_vm_pages"
	AttrCPU                 = string(semconv.CPULogicalNumberKey)
	AttrIntervalStart       = "kernel.interval.start"
	AttrIntervalNs          = "kernel.interval.duration_ns"
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
