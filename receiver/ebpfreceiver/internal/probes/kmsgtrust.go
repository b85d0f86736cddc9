package probes

import (
	"regexp"
	"strconv"
	"strings"
)

// What a kernel.log line may be evidence of. Any local user controls part
// of some kernel lines: a task's name (a segfault line starts with it, an
// OOM kill quotes it), a cgroup's name, a file name. A keyword found there
// is forged evidence (a process renamed "EPT violation" that segfaults
// would put L0 on every span of the node). So a keyword counts only in
// lines the kernel wrote, with the user-controlled parts masked, and the
// line is node-wide only when it names a device or node-level subsystem.

// kernelFacility is LOG_KERN: writes to /dev/kmsg from user space cannot
// use it (the kernel turns facility 0 into LOG_USER), so facility 0 means
// the kernel wrote the line.
const kernelFacility = 0

// KernelWritten reports whether the kernel itself wrote rec.
func KernelWritten(rec KmsgRecord) bool { return rec.Priority>>3 == kernelFacility }

var (
	// A line about a task's fault starts with its name: "comm[pid]:
	// segfault at", "traps: comm[pid] general protection", and ends with
	// a file name ("in libx.so[...]"). None is isolation evidence.
	taskFault = regexp.MustCompile(`^(traps: )?.*\[\d+\][: ]`)
	// Parts of a line that name a task, a cgroup or a file.
	userParts = []struct {
		re   *regexp.Regexp
		repl string
	}{
		{regexp.MustCompile(`\bComm: .*?(\s+(Not )?[Tt]ainted|$)`), "Comm: _$1"},
		{regexp.MustCompile(`\b(task|comm|exe|name|task_memcg|oom_memcg|cgroup|path)=("[^"]*"|[^, ]*)`), "$1=_"},
		{regexp.MustCompile(`\b(process \d+) \([^)]*\)`), "$1 (_)"},
		{regexp.MustCompile(`'[^']*'|"[^"]*"`), "_"},
	}
	// Devices, drivers and node-level subsystems a line may be about.
	deviceName = regexp.MustCompile(`\bdev ([\w.-]+)|\b(virtio\d+|x?vd[a-z]+\d*|sd[a-z]+\d*|nvme\d+n\d+|loop\d+|eth\d+|en[a-z][a-z0-9]*\d[a-z0-9]*|[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\b`)
	// A driver or device prefix: "chxbr0: port 1(veth0) entered…",
	// "virtio_net virtio0 eth0: …", "EXT4-fs (vda1): …".
	devicePrefix = regexp.MustCompile(`^[\w.-]+(?: \(?[\w.:-]+\)?){0,2}:`)
	devicePart   = regexp.MustCompile(`[\w.:-]+`)
	cpuLevel     = regexp.MustCompile(`(?i)\b(mce|Machine check|Hardware Error|EDAC)\b`)
	kvmLevel     = regexp.MustCompile(`^kvm\b|\b(VMX|SVM|EPT|NPT|VMCS|SEV)\b`)
	// The process a line is about (an OOM kill names its victim).
	linePID = regexp.MustCompile(`\bKilled process (\d+)|\bpid[=: ](\d+)`)
)

// TrustedText is msg with every user-controlled part masked; "" when the
// whole line is about a task's fault.
func TrustedText(msg string) string {
	if taskFault.MatchString(msg) {
		return ""
	}
	for _, u := range userParts {
		msg = u.re.ReplaceAllString(msg, u.repl)
	}
	return msg
}

// LineDevice is the device, driver or node-level subsystem the trusted
// text of a line names ("" when none): only then is it node-wide evidence.
func LineDevice(text string) string {
	if m := deviceName.FindStringSubmatch(text); m != nil {
		if m[1] != "" {
			return m[1]
		}
		return m[2]
	}
	if cpuLevel.MatchString(text) {
		return "cpu"
	}
	if kvmLevel.MatchString(text) {
		return "kvm"
	}
	if p := devicePrefix.FindString(text); p != "" {
		parts := devicePart.FindAllString(p, -1)
		return strings.TrimRight(parts[len(parts)-1], ":")
	}
	return ""
}

// LinePID is the process the trusted text of a line is about, 0 when none.
func LinePID(text string) int64 {
	m := linePID.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	for _, g := range m[1:] {
		if n, err := strconv.ParseInt(g, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 0
}
