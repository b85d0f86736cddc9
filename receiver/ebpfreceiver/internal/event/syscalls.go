package event

import "golang.org/x/sys/unix"

// syscallNumbers maps the syscalls the slow-syscall probe can watch to their
// numbers on this architecture (golang.org/x/sys/unix of the build's GOARCH).
// A syscall is watchable when its per-syscall tracepoints
// (syscalls:sys_enter_<name>) exist. Syscalls that only some architectures
// have (arm64 has no epoll_wait, poll or select) come from archSyscalls.
var syscallNumbers = func() map[string]int {
	m := map[string]int{}
	for _, part := range []map[string]int{commonSyscalls, archSyscalls} {
		for name, nr := range part {
			m[name] = nr
		}
	}
	return m
}()

// commonSyscalls exist on every architecture Linux and Go share.
var commonSyscalls = map[string]int{
	"read": unix.SYS_READ, "write": unix.SYS_WRITE, "pread64": unix.SYS_PREAD64, "pwrite64": unix.SYS_PWRITE64,
	"readv": unix.SYS_READV, "writev": unix.SYS_WRITEV, "fsync": unix.SYS_FSYNC, "fdatasync": unix.SYS_FDATASYNC,
	"openat": unix.SYS_OPENAT, "close": unix.SYS_CLOSE, "connect": unix.SYS_CONNECT, "accept": unix.SYS_ACCEPT,
	"accept4": unix.SYS_ACCEPT4, "sendto": unix.SYS_SENDTO, "recvfrom": unix.SYS_RECVFROM, "sendmsg": unix.SYS_SENDMSG,
	"recvmsg": unix.SYS_RECVMSG, "futex": unix.SYS_FUTEX, "epoll_pwait": unix.SYS_EPOLL_PWAIT,
	"ppoll": unix.SYS_PPOLL, "nanosleep": unix.SYS_NANOSLEEP,
	"clock_nanosleep": unix.SYS_CLOCK_NANOSLEEP, "mmap": unix.SYS_MMAP, "munmap": unix.SYS_MUNMAP, "getppid": unix.SYS_GETPPID,
	"getpid": unix.SYS_GETPID, "ioctl": unix.SYS_IOCTL, "sync_file_range": unix.SYS_SYNC_FILE_RANGE, "io_uring_enter": unix.SYS_IO_URING_ENTER,
}

var syscallNames = func() map[int]string {
	m := map[int]string{}
	for n, nr := range syscallNumbers {
		m[nr] = n
	}
	return m
}()

// SyscallNumber returns the number of a watchable syscall.
func SyscallNumber(name string) (int, bool) {
	nr, ok := syscallNumbers[name]
	return nr, ok
}

// SyscallName names a syscall number ("syscall_<nr>" when unknown).
func SyscallName(nr int) string {
	if n, ok := syscallNames[nr]; ok {
		return n
	}
	return "syscall_" + itoa(nr)
}

// SyscallNames lists the watchable syscalls.
func SyscallNames() []string {
	out := make([]string, 0, len(syscallNumbers))
	for n := range syscallNumbers {
		out = append(out, n)
	}
	return out
}
