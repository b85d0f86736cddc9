package probes

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Capabilities the BPF probes need (linux/capability.h): CAP_BPF for maps
// and programs, CAP_PERFMON for tracing programs; CAP_SYS_ADMIN covers
// both on kernels before 5.8 and still does.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// explainBPFError names the capabilities this process lacks when creating
// a BPF map failed: cilium/ebpf's hint blames RLIMIT_MEMLOCK, which since
// Linux 5.11 (memcg accounting) is almost never the cause.
func explainBPFError(err error) error {
	missing := missingBPFCaps()
	if len(missing) == 0 {
		return fmt.Errorf("BPF unavailable: %w", err)
	}
	cause := err
	if errors.Is(err, unix.EPERM) {
		cause = unix.EPERM // without the MEMLOCK hint, which misleads here
	}
	return fmt.Errorf("BPF unavailable: this process lacks %s (grant them, or run as root): %w", strings.Join(missing, " and "), cause)
}

// missingBPFCaps lists the capabilities the BPF probes need that the
// process's effective set lacks; nil when it cannot tell.
func missingBPFCaps() []string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(capSysAdmin) {
		return nil
	}
	var missing []string
	if !has(capBPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) {
		missing = append(missing, "CAP_PERFMON")
	}
	return missing
}
