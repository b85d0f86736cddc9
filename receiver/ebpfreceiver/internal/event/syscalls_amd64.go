package event

import "golang.org/x/sys/unix"

// archSyscalls are the watchable syscalls amd64 has and newer architectures
// (arm64) replaced with their p-variants (epoll_pwait, ppoll, pselect6).
var archSyscalls = map[string]int{
	"epoll_wait": unix.SYS_EPOLL_WAIT, "poll": unix.SYS_POLL, "select": unix.SYS_SELECT,
}
