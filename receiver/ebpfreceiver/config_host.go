package ebpfreceiver // import "github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/probes"
)

// SchedDelayConfig configures the sched_delay probe.
type SchedDelayConfig struct {
	// Threshold: a run-queue wait at least this long becomes a
	// kernel.sched.delay event (every wait goes into the histogram).
	Threshold time.Duration `mapstructure:"threshold"`
}

// BlockIOConfig configures the block_io probe.
type BlockIOConfig struct {
	// Threshold: a request at least this long (issue → complete) becomes a
	// kernel.block.io event. Errors always do.
	Threshold time.Duration `mapstructure:"threshold"`
}

// SyscallConfig configures the syscall_slow probe.
type SyscallConfig struct {
	// Syscalls to watch (their per-syscall tracepoints are attached).
	Syscalls []string `mapstructure:"syscalls"`
	// Threshold for the syscall body (sys_enter → sys_exit).
	Threshold time.Duration `mapstructure:"threshold"`
	// EntryThreshold for the wait before sys_enter (seccomp user-notify,
	// ptrace): the sandbox slow path.
	EntryThreshold time.Duration `mapstructure:"entry_threshold"`
}

// CPUStealConfig configures the cpu_steal probe.
type CPUStealConfig struct {
	// Threshold: steal time of one CPU within one poll_interval that makes
	// a kernel.cpu.steal event.
	Threshold time.Duration `mapstructure:"threshold"`
}

// KernelLogConfig configures the kernel_log probe.
type KernelLogConfig struct {
	// Keywords extend (and, matched first, override) the built-in table.
	Keywords []probes.Keyword `mapstructure:"keywords"`
}

// ConntrackConfig configures the conntrack probe.
type ConntrackConfig struct {
	// StatPath is the per-CPU conntrack statistics file to poll. The
	// default, /proc/net/stat/nf_conntrack, is the collector's own network
	// namespace: right for a collector on the host network. A pod with its
	// own network namespace reads the node's through the host's procfs:
	// <host proc>/1/net/stat/nf_conntrack (pid 1's namespace is the node's).
	StatPath string `mapstructure:"stat_path"`
}

// HostConfig is the configuration of the host-side probes, squashed into
// Config.
type HostConfig struct {
	SchedDelay SchedDelayConfig `mapstructure:"sched_delay"`
	BlockIO    BlockIOConfig    `mapstructure:"block_io"`
	Syscall    SyscallConfig    `mapstructure:"syscall_slow"`
	CPUSteal   CPUStealConfig   `mapstructure:"cpu_steal"`
	KernelLog  KernelLogConfig  `mapstructure:"kernel_log"`
	Conntrack  ConntrackConfig  `mapstructure:"conntrack"`
}

func defaultHostConfig() HostConfig {
	return HostConfig{
		SchedDelay: SchedDelayConfig{Threshold: probes.DefaultSchedDelayThreshold},
		BlockIO:    BlockIOConfig{Threshold: probes.DefaultBlockIOThreshold},
		Syscall: SyscallConfig{
			Syscalls:       slices.Clone(probes.DefaultSyscalls),
			Threshold:      probes.DefaultSyscallThreshold,
			EntryThreshold: probes.DefaultSyscallEntryThreshold,
		},
		CPUSteal:  CPUStealConfig{Threshold: probes.DefaultStealThreshold},
		Conntrack: ConntrackConfig{StatPath: probes.DefaultConntrackStatPath},
	}
}

func (h *HostConfig) validate() error {
	var errs []error
	positive := func(field string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", field, d))
		}
	}
	positive("sched_delay.threshold", h.SchedDelay.Threshold)
	positive("block_io.threshold", h.BlockIO.Threshold)
	positive("syscall_slow.threshold", h.Syscall.Threshold)
	positive("syscall_slow.entry_threshold", h.Syscall.EntryThreshold)
	positive("cpu_steal.threshold", h.CPUSteal.Threshold)
	if len(h.Syscall.Syscalls) == 0 {
		errs = append(errs, errors.New("syscall_slow.syscalls: name at least one syscall"))
	}
	for i, name := range h.Syscall.Syscalls {
		if _, ok := event.SyscallNumber(name); !ok {
			known := event.SyscallNames()
			slices.Sort(known)
			errs = append(errs, fmt.Errorf("syscall_slow.syscalls[%d]: unknown syscall %q (known: %v)", i, name, known))
		}
	}
	if h.Conntrack.StatPath == "" || !filepath.IsAbs(h.Conntrack.StatPath) {
		errs = append(errs, fmt.Errorf("conntrack.stat_path: must be an absolute path, got %q", h.Conntrack.StatPath))
	}
	for i, k := range h.KernelLog.Keywords {
		if _, err := regexp.Compile(k.Pattern); err != nil || k.Pattern == "" {
			errs = append(errs, fmt.Errorf("kernel_log.keywords[%d].pattern: invalid regular expression %q: %v", i, k.Pattern, err))
		}
		if !probes.ValidLayer(k.Layer) {
			errs = append(errs, fmt.Errorf("kernel_log.keywords[%d].layer: must be one of L0, L1, L2, L3, L4, got %q", i, k.Layer))
		}
	}
	return errors.Join(errs...)
}

func (h *HostConfig) options() *probes.HostOptions {
	return &probes.HostOptions{
		SchedDelayThreshold:   h.SchedDelay.Threshold,
		BlockIOThreshold:      h.BlockIO.Threshold,
		SyscallThreshold:      h.Syscall.Threshold,
		SyscallEntryThreshold: h.Syscall.EntryThreshold,
		Syscalls:              h.Syscall.Syscalls,
		StealThreshold:        h.CPUSteal.Threshold,
		ExtraKeywords:         h.KernelLog.Keywords,
	}
}
