package layers

import (
	"strings"

	"github.com/crosshair-otel/crosshair/internal/identity"
)

// The named predicates the rows (and the processor's rules that need its
// state) use: one definition each.

const (
	virtioDiskPrefix   = "vd"
	virtioDriverPrefix = "virtio"
)

// VirtioDisk reports a virtio block device name (vda, vdb1…): its requests
// are served by the hypervisor's backing store.
func VirtioDisk(dev string) bool { return strings.HasPrefix(dev, virtioDiskPrefix) }

// VirtioDriver reports a virtio driver (virtio_net, virtio_blk): a
// paravirtual device whose queues the host drains.
func VirtioDriver(driver string) bool { return strings.HasPrefix(driver, virtioDriverPrefix) }

// idleWaits are the syscalls a thread parks in when it waits for itself (a
// lock, a poll loop, a sleep).
var idleWaits = []string{"futex", "epoll_wait", "epoll_pwait", "poll", "ppoll", "select", "pselect6", "nanosleep", "clock_nanosleep"}

// IdleWait reports an idle-wait syscall: the application waiting for
// itself, whatever isolates it, is not layer evidence.
func IdleWait(name string) bool { return in(idleWaits, name) }

// limitedIO are the write/fsync syscalls a cgroup IO limit (blkio
// throttle, io.max) holds before the IO becomes a request. Reads are left
// out on purpose: a slow read is far more often a socket or pipe waiting
// for data than a throttled disk.
var limitedIO = []string{"write", "pwrite64", "writev", "pwritev", "pwritev2", "fsync", "fdatasync", "sync_file_range", "syncfs"}

// LimitedIO reports a syscall a cgroup IO limit holds.
func LimitedIO(name string) bool { return in(limitedIO, name) }

// diskWaits are the syscalls whose slow body waits for a disk: the flush
// family and positional writes, which only files take (a plain write may
// be a socket's).
var diskWaits = []string{"fsync", "fdatasync", "sync_file_range", "syncfs", "sync", "msync", "pwrite64", "pwritev", "pwritev2"}

// DiskWait reports a slow syscall (of phase phase) that waited for a disk:
// a body or sandbox window of one of diskWaits, not an entry wait.
func DiskWait(phase, name string) bool { return phase != "entry" && in(diskWaits, name) }

// SandboxRuntime reports a sandbox runtime's process name (runsc, Kata,
// Firecracker, a WASM runtime): internal/identity keeps the one list.
func SandboxRuntime(exe string) bool { return identity.SandboxRuntime(exe) }

// ContainerCgroup reports a cgroup path below the root: the process runs
// behind the container boundary (L3) rather than on the host (the root,
// user sessions, init).
func ContainerCgroup(path string) bool {
	return path != "" && path != "/" && !strings.HasPrefix(path, "/user.slice") && !strings.HasPrefix(path, "/init.scope")
}

func in(list []string, s string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}
