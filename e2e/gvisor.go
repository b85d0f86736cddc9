package e2e

import (
	"os"
	"strings"

	"github.com/crosshair-otel/crosshair/e2e/lab"
)

// gvisorScenario (issue 18): the fault moves order from a plain process
// into a gVisor sandbox (runsc, ptrace platform, its namespace's network):
// the same binary, every syscall now trapped to the Sentry. Order's slow
// spans should be L4 on the receiver's sandbox trap records and placed in
// gVisor; the other services' spans stay as they were.
func gvisorScenario() scenario {
	return scenario{
		name: "gvisor", expected: "L4", hop: lab.Order, hopKind: KindServer,
		evidence: func(s *Span) bool {
			return s.Num("kernel.syscall.slow_ms") > 0 && strings.Contains(s.Cause(), "sandbox syscall traps") &&
				strings.HasPrefix(stackOf(s), "L4 gvisor")
		},
		evidenceText: "isolation.cause names sandbox syscall traps and isolation.runtime.stack starts L4 gvisor",
		// Order's requests pread /dev/zero 500 times a byte (both phases):
		// work made of system calls, each one a trap to the Sentry inside
		// gVisor. Enough that a sandboxed request passes the diagnosis
		// exporter's slow_threshold (20ms) on a quiet machine too: with
		// 100, order's fault spans took 5–10ms, and the only traces
		// reported were the few a second stall also slowed (2 and 3 in
		// two CI runs, 1 right each); with 500, 409 reports, 408 right.
		flags: map[string][]string{"order": {"-syscall-work", "500"}},
		inject: func(h *harness) error {
			h.stopService("order")
			if err := os.MkdirAll(lab.RunscDir, 0o700); err != nil {
				return err
			}
			h.gvisor = lab.Order.Name
			return h.startService(lab.Order, false)
		},
		remove: func(h *harness) error { h.gvisor = ""; return nil },
	}
}

// gvisorArgv runs the service named h.gvisor inside runsc: argv is
// `netns exec <ns> <bin> args…` for `ip`. The service already sits in its
// lab cgroups (launch): runsc must not configure cgroups of its own (it
// fails on a v1 hierarchy without cpuset). TMPDIR puts runsc's bundle and
// state where lab.Cleanup removes them, also after a killed run.
func (h *harness) gvisorArgv(s lab.Service, argv []string) []string {
	if h.gvisor == "" || h.gvisor != s.Name || len(argv) < 3 {
		return argv
	}
	out := append([]string{}, argv[:3]...)
	out = append(out, "env", "TMPDIR="+lab.RunscDir, "runsc", "--rootless", "--ignore-cgroups", "--network=host", "--platform=ptrace", "do")
	return append(out, argv[3:]...)
}

func stackOf(s *Span) string {
	v, _ := s.Attrs["isolation.runtime.stack"].(string)
	return v
}
