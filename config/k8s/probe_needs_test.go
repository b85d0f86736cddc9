package k8s_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// probeNeed is what one probe of the ebpf receiver needs from the node agent's
// pod to work: capabilities, host paths (host path → where the probe reads it
// in the container) and the host's PID namespace. docs/kubernetes.md carries
// the same table.
type probeNeed struct {
	caps    []corev1.Capability
	mounts  map[string]string
	hostPID bool
}

const (
	btf     = "/sys/kernel/btf"
	tracefs = "/sys/kernel/tracing"
	cgroups = "/sys/fs/cgroup"
	kmsg    = "/dev/kmsg"
)

// bpfProbe: a BPF program attached to tracepoints, tp_btf or an iterator.
// Every event names its process and container: pids are the host's (hostPID),
// resolved through the host's cgroup tree.
func bpfProbe(paths ...string) probeNeed {
	m := map[string]string{btf: btf, cgroups: cgroups}
	for _, p := range paths {
		m[p] = p
	}
	return probeNeed{caps: []corev1.Capability{"BPF", "PERFMON", "SYS_PTRACE"}, mounts: m, hostPID: true}
}

// probeNeeds maps every probe the receiver loads by default (`ebpf: {}` loads
// them all) to what it needs.
var probeNeeds = map[string]probeNeed{
	"tcp_retransmit": bpfProbe(tracefs), // tp_btf; tracepoint fallback
	"tcp_connection": bpfProbe(tracefs), // tracepoint/sock/inet_sock_set_state, iter/task_file
	"tcp_reset":      bpfProbe(tracefs),
	"skb_drop":       bpfProbe(tracefs),
	"net_tx_timeout": bpfProbe(tracefs),
	"sched_delay":    bpfProbe(),
	"block_io":       bpfProbe(),
	"syscall_slow":   bpfProbe(tracefs), // tracefs for its syscall-tracepoint fallback
	"oom_kill":       bpfProbe(),
	// The node's conntrack statistics: the pod has its own network namespace,
	// so the node's are read through the host's procfs (pid 1's namespace).
	"conntrack": {mounts: map[string]string{"/proc": "/host/proc"}},
	// cpu.stat of every cgroup, including cgroups delegated to other users.
	"cgroup_throttle": {caps: []corev1.Capability{"DAC_READ_SEARCH"}, mounts: map[string]string{cgroups: cgroups}},
	// /proc/stat is node-wide in any pid namespace; steal per process is
	// measured by sched_delay's sched_switch program, not read from /proc.
	"cpu_steal":  {},
	"kernel_log": {caps: []corev1.Capability{"SYSLOG"}, mounts: map[string]string{kmsg: kmsg}},
}

// receiverProbes reads the probe names from the receiver's source: every
// `Probe{Name: "..."}` literal in its probes package. A probe added there
// without an entry in probeNeeds fails TestEveryProbeHasItsNeeds.
func receiverProbes(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "receiver", "ebpfreceiver", "internal", "probes")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var names []string
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); lit.Type != nil && (!ok || id.Name != "Probe") {
				return true
			}
			for _, el := range lit.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Name" {
					if s, ok := kv.Value.(*ast.BasicLit); ok && s.Kind == token.STRING {
						name, err := strconv.Unquote(s.Value)
						require.NoError(t, err)
						names = append(names, name)
					}
				}
			}
			return true
		})
	}
	slices.Sort(names)
	return names
}

// missingNeeds lists what probe needs and p lacks.
func missingNeeds(p pod, probe string, need probeNeed) []string {
	var missing []string
	if need.hostPID && !p.hostPID {
		missing = append(missing, probe+": hostPID")
	}
	c := p.containers[0]
	var added []corev1.Capability
	if c.SecurityContext != nil && c.SecurityContext.Capabilities != nil {
		added = c.SecurityContext.Capabilities.Add
	}
	for _, cp := range need.caps {
		if !slices.Contains(added, cp) {
			missing = append(missing, fmt.Sprintf("%s: capability %s", probe, cp))
		}
	}
	for host, at := range need.mounts {
		ok := false
		for _, v := range p.volumes {
			if v.HostPath == nil || v.HostPath.Path != host {
				continue
			}
			ok = slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == v.Name && vm.MountPath == at })
		}
		if !ok {
			missing = append(missing, fmt.Sprintf("%s: host %s mounted at %s", probe, host, at))
		}
	}
	return missing
}

func agentPods(t *testing.T, ms []manifest) []pod {
	t.Helper()
	var agents []pod
	for _, p := range podsOf(ms) {
		if p.hostPID || strings.Contains(p.name, "node-agent") || strings.HasPrefix(p.name, "OpenTelemetryCollector/") {
			agents = append(agents, p)
		}
	}
	require.Len(t, agents, 2, "node agents: DaemonSet and operator CR")
	return agents
}

func TestEveryProbeHasItsNeeds(t *testing.T) {
	probes := receiverProbes(t)
	require.GreaterOrEqual(t, len(probes), 10, "probe names parsed from the receiver: %v", probes)
	needed := make([]string, 0, len(probeNeeds))
	for name := range probeNeeds {
		needed = append(needed, name)
	}
	slices.Sort(needed)
	require.Equal(t, probes, needed, "probeNeeds must name exactly the receiver's probes")

	for _, p := range agentPods(t, loadManifests(t)) {
		t.Run(p.name, func(t *testing.T) {
			for _, probe := range probes {
				assert.Empty(t, missingNeeds(p, probe, probeNeeds[probe]), "probe %s", probe)
			}
		})
	}
}

// TestConntrackReadsTheNodesNamespace: the carried node-agent config points
// conntrack at the node's statistics inside the host procfs mount.
func TestConntrackReadsTheNodesNamespace(t *testing.T) {
	ms := loadManifests(t)
	checked := 0
	for _, c := range carriedConfigs(t, ms) {
		var cfg struct {
			Receivers map[string]struct {
				Conntrack struct {
					StatPath string `json:"stat_path"`
				} `json:"conntrack"`
			} `json:"receivers"`
		}
		require.NoError(t, yaml.Unmarshal(c.yaml, &cfg), c.name)
		ebpf, ok := cfg.Receivers["ebpf"]
		if !ok {
			continue
		}
		checked++
		assert.Equal(t, probeNeeds["conntrack"].mounts["/proc"]+"/1/net/stat/nf_conntrack", ebpf.Conntrack.StatPath, "%s: conntrack.stat_path", c.name)
	}
	assert.Equal(t, 2, checked, "node-agent configs: operator CR and ConfigMap")
}

// TestProbeNeedsCatchRemovals proves the check can fail: the shipped
// DaemonSet without /dev/kmsg, without SYSLOG, or without the host procfs
// loses the probe that needs it.
func TestProbeNeedsCatchRemovals(t *testing.T) {
	data := string(mustRead(t, "daemonset/30-daemonset.yaml"))
	for name, tc := range map[string]struct{ from, to, probe string }{
		"no kmsg mount":   {"              mountPath: /dev/kmsg\n", "              mountPath: /var/kmsg\n", "kernel_log"},
		"no SYSLOG":       {"                - SYSLOG ", "                # SYSLOG ", "kernel_log"},
		"no host proc":    {"              mountPath: /host/proc\n", "              mountPath: /hostproc\n", "conntrack"},
		"no hostPID":      {"      hostPID: true\n", "      hostPID: false\n", "sched_delay"},
		"no PERFMON":      {"                - PERFMON ", "                # PERFMON ", "tcp_retransmit"},
		"no tracefs":      {"            path: /sys/kernel/tracing\n", "            path: /sys/kernel/debug/tracing\n", "skb_drop"},
		"no cgroup mount": {"              mountPath: /sys/fs/cgroup\n", "              mountPath: /cgroup\n", "cgroup_throttle"},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, 1, strings.Count(data, tc.from), "%q", tc.from)
			docs, err := splitDocuments([]byte(strings.Replace(data, tc.from, tc.to, 1)))
			require.NoError(t, err)
			obj, _, _, err := decodeStrict(docs[0])
			require.NoError(t, err)
			p := podsOf([]manifest{{obj: obj}})[0]
			assert.NotEmpty(t, missingNeeds(p, tc.probe, probeNeeds[tc.probe]), "%s not noticed", name)
		})
	}
}
