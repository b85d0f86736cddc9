// Per-resource identity: what the join knows of the process behind a batch's resource (pid, sender, placement).
package isolationjoinprocessor

import (
	"net/netip"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/join"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/placement"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/spankey"
)

// resourceInfo is what one resource contributes to its spans' join.
type resourceInfo struct {
	keys    spankey.Keys // resource part only
	netns   int64
	stack   placement.Stack
	inplace bool // stack known
	// The stack's attribute values, formatted once for all the resource's spans.
	innermost, stackStr string
	lists               join.Resource // the index's lists of the process and node
	// identity says how the process was found when the resource did not
	// name it (identityOTLPSender, identityServerPeer); "" otherwise.
	identity string
	comm     string // the local process's comm, when the resource names a pid
	// late is how long after a span its node's interval records may be
	// stamped (index.IntervalOf), looked up once per resource.
	late int64
}

func (p *joinProcessor) resource(res pcommon.Map) resourceInfo {
	var ri resourceInfo
	ri.keys = spankey.FromResource(res)
	if ri.keys.Host == "" {
		ri.keys.Host = p.hostname
	}
	if ri.keys.Host != p.hostname {
		return ri // another node's process: /proc here knows nothing of it
	}
	p.place(&ri)
	if ri.inplace && ri.keys.PID > 0 && foreignPID(res, ri.comm) {
		// The SDK's pid is from another pid namespace (a container's, or a
		// gVisor sandbox's, where the service is pid 1): this node's process
		// of that number is someone else. Identify it like a resource
		// without a pid (OTLP sender, server socket).
		ri = resourceInfo{keys: spankey.FromResource(res)}
		ri.keys.Host, ri.keys.PID = p.hostname, 0
	}
	return ri
}

// foreignPID reports a resource whose process.executable.name is not the
// name of the local process with its process.pid (comm: the first 15
// bytes of the executable's name).
func foreignPID(res pcommon.Map, comm string) bool {
	v, ok := res.Get(contract.AttrProcessExecutable)
	if !ok || v.Str() == "" || comm == "" {
		return false
	}
	name := v.Str()
	if len(name) > 15 {
		name = name[:15]
	}
	return name != comm
}

// place adds what /proc says of the resource's process (on this node):
// its cgroups, container, pod, network namespace and runtime stack.
func (p *joinProcessor) place(ri *resourceInfo) {
	switch {
	case ri.keys.PID > 0:
		if proc, ok := p.resolver.Process(ri.keys.PID); ok {
			ri.comm = proc.Comm
			ri.netns = proc.Netns
			ri.stack, ri.inplace = proc.Stack, true
			ri.keys.CgroupPath = proc.CgroupPath
			ri.keys.CPUCgroupPath, ri.keys.V2CgroupPath = proc.CPUCgroupPath, proc.V2CgroupPath
			if ri.keys.ContainerID == "" {
				ri.keys.ContainerID = proc.Cgroup.ContainerID
			}
			if ri.keys.PodUID == "" {
				ri.keys.PodUID = proc.Cgroup.PodUID
			}
		}
	case ri.keys.ContainerID != "" || ri.keys.PodUID != "":
		// A container on this node whose pid the SDK did not report.
		ri.stack = append(placement.Stack{{Layer: contract.LayerL3, Name: "container"}}, p.resolver.Node()...)
		ri.inplace = true
	}
	if ri.inplace {
		ri.innermost, ri.stackStr = ri.stack.Innermost(), ri.stack.String()
	}
}

// addrString formats a peer address for a span event. The same peers recur
// span after span: their strings are shared (strings are immutable, so
// many spans may point at one) instead of formatted and allocated each
// time. Bounded: cleared when full. Called with p.mu held.
func (p *joinProcessor) addrString(a netip.Addr) string {
	if s, ok := p.addrs[a]; ok {
		return s
	}
	if len(p.addrs) >= addrCacheLimit {
		clear(p.addrs)
	}
	s := a.String()
	p.addrs[a] = s
	return s
}
