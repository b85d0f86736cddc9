package probes

import "golang.org/x/sys/unix"

// archTrapWaitCalls are the waits amd64 has besides their p-variants.
var archTrapWaitCalls = []int{unix.SYS_EPOLL_WAIT, unix.SYS_POLL, unix.SYS_SELECT, unix.SYS_PAUSE, unix.SYS_SEMOP}
