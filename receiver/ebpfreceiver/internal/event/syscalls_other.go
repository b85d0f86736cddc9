//go:build !amd64

package event

// archSyscalls: arm64 (and the other architectures with the generic syscall
// table) have no epoll_wait, poll or select; their p-variants are common.
var archSyscalls = map[string]int{}
