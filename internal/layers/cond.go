package layers

import (
	"strings"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

// op is how a condition tests its fact. Conditions are data, not
// closures: applying a table costs no allocation per record (a call
// through a func value would move Facts to the heap).
type op uint8

const (
	opIs op = iota
	opIsNot
	opPrefix
	opSet
	opNonZero
	opVirtioDisk
	opVirtioDriver
	opIdleWait
	opLimitedIO
	opSandboxRuntime
	opContainerCgroup
	opQueueDominates
)

// Cond is one condition of a row on one fact.
type Cond struct {
	Key    string // the attribute (contract name) or fact tested
	op     op
	values []string
}

// Is holds when the fact under key is one of values.
func Is(key string, values ...string) Cond { return Cond{Key: key, op: opIs, values: values} }

// IsNot holds when the fact under key is not value.
func IsNot(key, value string) Cond { return Cond{Key: key, op: opIsNot, values: []string{value}} }

// Prefix holds when the fact under key starts with one of prefixes.
func Prefix(key string, prefixes ...string) Cond {
	return Cond{Key: key, op: opPrefix, values: prefixes}
}

// Set holds when the string fact under key is not empty.
func Set(key string) Cond { return Cond{Key: key, op: opSet} }

// VirtioDiskOf holds when the device under key is a virtio disk (VirtioDisk).
func VirtioDiskOf(key string) Cond { return Cond{Key: key, op: opVirtioDisk} }

// VirtioDriverOf holds when the driver under key is a virtio one (VirtioDriver).
func VirtioDriverOf(key string) Cond { return Cond{Key: key, op: opVirtioDriver} }

// The named predicates, as conditions on the fact they test.
var (
	// BlockFailed: the request completed with an error.
	BlockFailed = Cond{Key: contract.AttrBlockError, op: opNonZero}
	// IdleWaitCall: kernel.syscall.name is an idle wait (IdleWait).
	IdleWaitCall = Cond{Key: contract.AttrSyscallName, op: opIdleWait}
	// LimitedIOCall: kernel.syscall.name is one a cgroup IO limit holds (LimitedIO).
	LimitedIOCall = Cond{Key: contract.AttrSyscallName, op: opLimitedIO}
	// InSandboxRuntime: process.executable.name is a sandbox runtime (SandboxRuntime).
	InSandboxRuntime = Cond{Key: contract.AttrProcessExecutable, op: opSandboxRuntime}
	// InContainerCgroup: linux.cgroup.path is a container's (ContainerCgroup).
	InContainerCgroup = Cond{Key: contract.AttrCgroupPath, op: opContainerCgroup}
	// GuestQueueDominates: the request waited longer in the guest's queue
	// than the device took (kernel.block.queue_ns > kernel.block.latency_ns).
	GuestQueueDominates = Cond{Key: contract.AttrBlockQueueNs, op: opQueueDominates}
)

func (c *Cond) holds(f *Facts) bool {
	switch c.op {
	case opNonZero:
		return f.BlockError != 0
	case opQueueDominates:
		return f.BlockQueueNs > f.BlockLatencyNs
	}
	v := f.Str(c.Key)
	switch c.op {
	case opIs:
		for _, x := range c.values {
			if v == x {
				return true
			}
		}
		return false
	case opIsNot:
		return v != c.values[0]
	case opPrefix:
		for _, p := range c.values {
			if strings.HasPrefix(v, p) {
				return true
			}
		}
		return false
	case opSet:
		return v != ""
	case opVirtioDisk:
		return VirtioDisk(v)
	case opVirtioDriver:
		return VirtioDriver(v)
	case opIdleWait:
		return IdleWait(v)
	case opLimitedIO:
		return LimitedIO(v)
	case opSandboxRuntime:
		return SandboxRuntime(v)
	case opContainerCgroup:
		return ContainerCgroup(v)
	}
	return false
}

// Text is the condition as the README table prints it.
func (c *Cond) Text() string {
	k := "`" + c.Key + "`"
	switch c.op {
	case opIs:
		return k + " = " + list(c.values, "")
	case opIsNot:
		return k + " ≠ " + list(c.values, "")
	case opPrefix:
		return k + " = " + list(c.values, "*")
	case opSet:
		return k + " set"
	case opNonZero:
		return k + " ≠ 0"
	case opVirtioDisk:
		return k + " is a virtio disk (" + list([]string{virtioDiskPrefix}, "*") + ")"
	case opVirtioDriver:
		return k + " is a virtio driver (" + list([]string{virtioDriverPrefix}, "*") + ")"
	case opIdleWait:
		return k + " is an idle wait (" + list(idleWaits, "") + ")"
	case opLimitedIO:
		return k + " is held by an IO limit (" + list(limitedIO, "") + ")"
	case opSandboxRuntime:
		return k + " is a sandbox runtime (`identity.SandboxRuntime`: gVisor, Kata, Firecracker, WASM runtimes)"
	case opContainerCgroup:
		return k + " is below the root cgroup (not `/`, `/user.slice*`, `/init.scope*`)"
	case opQueueDominates:
		return "`kernel.block.queue_ns` > `kernel.block.latency_ns`"
	}
	return k
}

func list(values []string, suffix string) string {
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("`" + v + suffix + "`")
	}
	return b.String()
}
