// Package placement says where a process runs: the isolation stack under it
// (docs/design.md §1, §5 "runtime placement"), from the node (hypervisor, virtio
// devices, kernel) down to the process (cgroup → container runtime,
// process tree and seccomp → sandbox).
package placement

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/crosshair-otel/crosshair/internal/identity"
)

// Level is one layer of a runtime stack.
type Level struct {
	Layer string // L0–L4
	Name  string // firecracker, virtio, docker, runsc, seccomp…
}

func (l Level) String() string { return l.Layer + " " + l.Name }

// Stack is a runtime stack, innermost first.
type Stack []Level

// Innermost is the layer the process sits directly in.
func (s Stack) Innermost() string {
	if len(s) == 0 {
		return "L0"
	}
	return s[0].Layer
}

func (s Stack) String() string {
	parts := make([]string, len(s))
	for i, l := range s {
		parts[i] = l.String()
	}
	return strings.Join(parts, "/")
}

// FS reads the host's /proc and /sys; tests point it at this machine's
// real ones (Root "/"), a container mounting the host's at /host sets Root.
type FS struct {
	Root string
}

func (f FS) path(p string) string { return filepath.Join(f.Root, p) }

func (f FS) read(p string) (string, error) {
	b, err := os.ReadFile(f.path(p))
	return strings.TrimSpace(string(b)), err
}

// Node detects the node's stack: hypervisor (L1) and paravirtual devices
// (L2), or bare metal (L0). Missing files mean "not present", other read
// errors are returned.
func (f FS) Node() (Stack, error) {
	var s Stack
	virtio, err := f.virtio()
	if err != nil {
		return nil, err
	}
	if virtio != "" {
		s = append(s, Level{"L2", virtio})
	}
	hv, err := f.hypervisor()
	if err != nil {
		return nil, err
	}
	if hv != "" {
		s = append(s, Level{"L1", hv})
	} else if len(s) == 0 {
		s = append(s, Level{"L0", "baremetal"})
	}
	return s, nil
}

// virtio names the paravirtual device family when virtio devices are bound
// (a PCI or MMIO virtio device means the guest talks to a paravirtual
// backend), or Xen's PV bus.
func (f FS) virtio() (string, error) {
	entries, err := os.ReadDir(f.path("/sys/bus/virtio/devices"))
	switch {
	case err == nil && len(entries) > 0:
		return "virtio", nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read virtio devices: %w", err)
	}
	if entries, err := os.ReadDir(f.path("/sys/bus/xen/devices")); err == nil && len(entries) > 0 {
		return "xen-pv", nil
	}
	if entries, err := os.ReadDir(f.path("/sys/bus/vmbus/devices")); err == nil && len(entries) > 0 {
		return "vmbus", nil
	}
	return "", nil
}

// hypervisor names the hypervisor, "" on bare metal. The CPUID hypervisor
// bit (the "hypervisor" flag in /proc/cpuinfo) says there is one; DMI,
// /sys/hypervisor, the clocksource and the kernel name say which.
func (f FS) hypervisor() (string, error) {
	flagged, err := f.cpuHypervisorFlag()
	if err != nil {
		return "", err
	}
	if t, _ := f.read("/sys/hypervisor/type"); t != "" {
		return t, nil // xen
	}
	vendor, _ := f.read("/sys/class/dmi/id/sys_vendor")
	product, _ := f.read("/sys/class/dmi/id/product_name")
	dmi := strings.ToLower(vendor + " " + product)
	for _, hv := range []struct{ needle, name string }{
		{"firecracker", "firecracker"},
		{"qemu", "qemu-kvm"},
		{"vmware", "vmware"},
		{"microsoft", "hyper-v"},
		{"xen", "xen"},
		{"amazon ec2", "nitro"},
		{"google compute engine", "gce"},
		{"kvm", "kvm"},
		{"virtualbox", "virtualbox"},
	} {
		if strings.Contains(dmi, hv.needle) {
			return hv.name, nil
		}
	}
	// Firecracker exposes no DMI tables; its guests run a kernel built for
	// it and are started with its init arguments.
	release, _ := f.read("/proc/sys/kernel/osrelease")
	cmdline, _ := f.read("/proc/cmdline")
	if strings.Contains(cmdline, "firecracker") || strings.Contains(release, "-fc-") || strings.Contains(release, "firecracker") {
		return "firecracker", nil
	}
	if !flagged {
		return "", nil
	}
	clocks, _ := f.read("/sys/devices/system/clocksource/clocksource0/available_clocksource")
	switch {
	case strings.Contains(clocks, "kvm-clock"):
		return "kvm", nil
	case strings.Contains(clocks, "hyperv"):
		return "hyper-v", nil
	case strings.Contains(clocks, "xen"):
		return "xen", nil
	}
	return "unknown-hypervisor", nil
}

func (f FS) cpuHypervisorFlag() (bool, error) {
	b, err := os.ReadFile(f.path("/proc/cpuinfo"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read cpuinfo: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "flags") {
			continue
		}
		_, flags, _ := strings.Cut(line, ":")
		for _, fl := range strings.Fields(flags) {
			if fl == "hypervisor" {
				return true, nil
			}
		}
		return false, nil
	}
	return false, nil
}

// Process is what is known about one process.
type Process struct {
	Cgroup     identity.Cgroup
	CgroupPath string // the v2 path, or the first v1 path naming a container
	// CPUCgroupPath is the v1 cpu controller's path and V2CgroupPath the
	// unified one: cgroup throttling is reported per cpu cgroup.
	CPUCgroupPath string
	V2CgroupPath  string
	Netns         int64
	Stack         Stack  // the process's own levels (L4, L3), innermost first, then the node's
	Comm          string // /proc/<pid>/comm: the executable's name, truncated to 15 bytes
}

// Process detects the stack of pid on top of node. It fails when the
// process does not exist (it may have exited, or run on another node).
func (f FS) Process(pid int64, node Stack) (Process, error) {
	var p Process
	base := fmt.Sprintf("/proc/%d", pid)
	entries, err := identity.ReadCgroupFile(f.path("/proc"), pid)
	if err != nil {
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	for _, e := range entries {
		c := identity.ParseCgroup(e.Path)
		if c.Runtime != "" && p.Cgroup.Runtime == "" {
			p.Cgroup, p.CgroupPath = c, e.Path
		}
		if e.Unified() {
			p.V2CgroupPath = e.Path
			if p.CgroupPath == "" {
				p.CgroupPath = e.Path
			}
		}
		if e.Has("cpu") {
			p.CPUCgroupPath = e.Path
		}
	}
	p.Comm, _ = f.read(base + "/comm")
	if st, err := os.Stat(f.path(base + "/ns/net")); err == nil {
		if ino, ok := inode(st); ok {
			p.Netns = ino
		}
	}
	var levels Stack
	if sb := identity.SandboxAncestry(f.path("/proc"), pid); sb != "" {
		levels = append(levels, Level{"L4", sb})
	} else if mode, err := identity.ReadSeccompMode(f.path("/proc"), pid); err == nil && mode == identity.SeccompFilter {
		levels = append(levels, Level{"L4", "seccomp"})
	}
	if p.Cgroup.Runtime != "" {
		levels = append(levels, Level{"L3", p.Cgroup.Runtime})
	}
	p.Stack = append(levels, node...)
	return p, nil
}
