// Package layers owns which isolation layer a kernel event is evidence for
// (docs/design.md §5): the rule table (Default, data: event, conditions,
// layer, why), the few named predicates the rows use, and how a table is
// applied. The ebpf receiver writes each record's isolation.layer from it;
// the isolation_join processor applies the same table, behind its
// configured rules, to records that carry no layer of their own.
package layers

import "github.com/crosshair-otel/crosshair/internal/contract"

// FactCPULimit names a fact the receiver knows from /proc and does not
// write on the record: the CPU limit of the process's cgroup
// (cpu.cfs_quota_us ≠ -1, cpu.max ≠ max), "" when none.
const FactCPULimit = "linux.cgroup.cpu.limit"

// Facts are what a row may test about one event, under the contract's
// attribute names. Each side fills what it knows: a fact left empty makes
// a condition on it false (the processor keeps no driver, IO or CPU limit,
// so a record without a layer of its own falls through to a later row).
type Facts struct {
	Event string // the record's event name
	// Layer is the record's own isolation.layer ("" while the receiver
	// decides it).
	Layer string

	SyscallName  string // kernel.syscall.name
	SyscallPhase string // kernel.syscall.phase: entry, body, sandbox
	Exe          string // process.executable.name
	SeccompMode  string // process.seccomp.mode, "" for 0
	CgroupPath   string // linux.cgroup.path
	IOLimit      string // linux.cgroup.io.limit
	CPULimit     string // FactCPULimit

	DropReason      string // kernel.skb.drop.reason
	Interface       string // network.interface.name
	InterfaceDriver string // network.interface.driver

	BlockDevice        string // kernel.block.device
	BlockOp            string // kernel.block.op
	BlockBackingDevice string // kernel.block.backing_device
	BlockBackingDriver string // kernel.block.backing_device.driver
	BlockError         int64  // kernel.block.error
	BlockLatencyNs     int64  // kernel.block.latency_ns
	BlockQueueNs       int64  // kernel.block.queue_ns
}

// Str is the string fact under key, "" for a key Facts does not hold.
func (f *Facts) Str(key string) string {
	switch key {
	case contract.AttrIsolationLayer:
		return f.Layer
	case contract.AttrSyscallName:
		return f.SyscallName
	case contract.AttrSyscallPhase:
		return f.SyscallPhase
	case contract.AttrProcessExecutable:
		return f.Exe
	case contract.AttrSeccompMode:
		return f.SeccompMode
	case contract.AttrCgroupPath:
		return f.CgroupPath
	case contract.AttrCgroupIOLimit:
		return f.IOLimit
	case FactCPULimit:
		return f.CPULimit
	case contract.AttrSKBDropReason:
		return f.DropReason
	case contract.AttrNetworkInterface:
		return f.Interface
	case contract.AttrNetworkInterfaceDriver:
		return f.InterfaceDriver
	case contract.AttrBlockDevice:
		return f.BlockDevice
	case contract.AttrBlockOp:
		return f.BlockOp
	case contract.AttrBlockBackingDevice:
		return f.BlockBackingDevice
	case contract.AttrBlockBackingDriver:
		return f.BlockBackingDriver
	}
	return ""
}

// Row maps the events it matches to a layer: the event name, then every
// condition must hold.
type Row struct {
	Event string
	When  []Cond
	Layer string
	// Why is the reason, in the words the README table prints.
	Why string
	// OverRecord: the row decides even for a record that carries a layer
	// of its own (configured rules; a fact the processor trusts over what
	// a receiver with less information wrote).
	OverRecord bool
}

// Matches reports whether every condition of r holds for f.
func (r *Row) Matches(f *Facts) bool {
	if r.Event != f.Event {
		return false
	}
	for i := range r.When {
		if !r.When[i].holds(f) {
			return false
		}
	}
	return true
}

// Table is an ordered list of rows: the first that matches decides.
type Table []Row

// Resolve is the layer of the event f describes and the index of the row
// that decided it (-1: the record's own layer, or nothing matched). In
// table order, a row marked OverRecord may decide for any record, the
// others only for a record without a layer of its own (f.Layer == "");
// when none decides, the record's own layer stands. "" means evidence for
// no layer.
func (t Table) Resolve(f *Facts) (string, int) {
	for i := range t {
		if (t[i].OverRecord || f.Layer == "") && t[i].Matches(f) {
			return t[i].Layer, i
		}
	}
	return f.Layer, -1
}

// Of is the layer the default table gives the event f describes.
func Of(f *Facts) string {
	l, _ := Default.Resolve(f)
	return l
}
