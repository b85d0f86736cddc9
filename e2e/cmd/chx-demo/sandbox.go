package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompNotif / seccompNotifResp mirror struct seccomp_notif and
// struct seccomp_notif_resp (linux/seccomp.h).
type seccompNotif struct {
	ID    uint64
	PID   uint32
	Flags uint32
	Data  struct {
		Nr   int32
		Arch uint32
		IP   uint64
		Args [6]uint64
	}
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

var syscallNumbers = map[string]uint32{
	"connect": unix.SYS_CONNECT,
	"accept4": unix.SYS_ACCEPT4,
	"openat":  unix.SYS_OPENAT,
	"write":   unix.SYS_WRITE,
}

// sandbox runs a command under a seccomp filter whose slow path is a user
// notification: every call of -syscall waits for this supervisor, which
// holds it for -wait and then lets it continue — the sandbox slow path of a
// seccomp-notify supervisor (docs/design.md §1, L4). With -peer, the supervisor
// mediates egress: it holds only calls on a socket connected to that
// address:port (the first argument of write/sendto/connect... is the fd) and
// lets every other call through at once, as a policy-checking supervisor
// would pass calls it has no rule for.
func sandbox(args []string) error {
	fs := flag.NewFlagSet("sandbox", flag.ExitOnError)
	name := fs.String("syscall", "connect", "syscall sent to the supervisor")
	wait := fs.Duration("wait", 50*time.Millisecond, "how long the supervisor holds each call")
	peer := fs.String("peer", "", "hold only calls on sockets whose peer is this address:port (empty: every call)")
	_ = fs.Parse(args)
	cmdArgs := fs.Args()
	if len(cmdArgs) == 0 {
		return fmt.Errorf("usage: sandbox [-syscall connect] [-wait 50ms] -- command args")
	}
	nr, ok := syscallNumbers[*name]
	if !ok {
		return fmt.Errorf("unsupported syscall %q", *name)
	}

	// The filter is installed on this thread only, and the child is forked
	// from it: the child inherits it, the supervisor's other threads do not.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: unix.AUDIT_ARCH_X86_64},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: nr},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_USER_NOTIF},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER, NEW_LISTENER): %w", errno)
	}
	var hold func(*seccompNotif) bool
	if *peer != "" {
		want, err := netip.ParseAddrPort(*peer)
		if err != nil {
			return fmt.Errorf("-peer: %w", err)
		}
		hold = func(n *seccompNotif) bool { return socketPeer(n.PID, int(n.Data.Args[0])) == want }
	}
	go supervise(int(fd), *wait, hold)

	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "sandbox: pid %d runs under a seccomp user-notify filter on %s (supervisor waits %s)\n", cmd.Process.Pid, *name, *wait)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	return cmd.Wait()
}

// supervise answers the notifications: held calls continue after wait,
// others (hold returns false) at once.
func supervise(fd int, wait time.Duration, hold func(*seccompNotif) bool) {
	for {
		var n seccompNotif
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); errno != 0 {
			if errno == unix.EINTR || errno == unix.ENOENT {
				continue
			}
			return // the last filtered task is gone
		}
		go func(n seccompNotif) {
			if hold == nil || hold(&n) {
				time.Sleep(wait)
			}
			id := n.ID
			resp := seccompNotifResp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
			_, _, _ = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
		}(n)
	}
}

// socketPeer returns the peer of the socket behind fd in thread tid, or the
// zero value when fd is not a connected inet socket. It copies the fd with
// pidfd_getfd(2), which a supervisor with ptrace rights over the task may do.
func socketPeer(tid uint32, fd int) netip.AddrPort {
	pidfd, err := unix.PidfdOpen(int(tid), unix.PIDFD_THREAD)
	if err != nil {
		return netip.AddrPort{}
	}
	defer unix.Close(pidfd)
	local, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return netip.AddrPort{}
	}
	defer unix.Close(local)
	sa, err := unix.Getpeername(local)
	if err != nil {
		return netip.AddrPort{}
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
