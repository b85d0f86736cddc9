// Package testenv builds the real kernel fixtures integration tests need —
// network namespaces joined by veth, nftables drop rules — and removes them
// when the test ends, whether it passed or not.
package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// RequireEnv is the variable CI sets so that a missing kernel feature fails
// the run instead of skipping the test.
const RequireEnv = "CROSSHAIR_REQUIRE_BPF"

// SkipOrFail skips the test with the reason, or fails it when CI demands
// that every kernel test runs.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s is set but: %s", RequireEnv, msg)
	}
	t.Skip(msg)
}

// RequireRoot skips (or fails under CI) unless the test runs as root with
// the tools the kernel fixtures need.
func RequireRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root to load BPF programs and create namespaces")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			SkipOrFail(t, "needs %s on PATH: %v", tool, err)
		}
	}
	if err := MountTracefs(); err != nil {
		SkipOrFail(t, "tracefs: %v", err)
	}
}

// MountTracefs mounts tracefs at /sys/kernel/tracing when it is not mounted.
func MountTracefs() error {
	if _, err := os.Stat("/sys/kernel/tracing/events"); err == nil {
		return nil
	}
	if err := unix.Mount("nodev", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
		return fmt.Errorf("mount tracefs at /sys/kernel/tracing: %w", err)
	}
	return nil
}

// Run runs a command and fails the test with its output when it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Netns is a named network namespace created for one test.
type Netns struct {
	Name  string
	Inode uint64
}

// NewNetns creates a network namespace with loopback up and deletes it at
// the end of the test.
func NewNetns(t testing.TB, name string) *Netns {
	t.Helper()
	_ = exec.Command("ip", "netns", "del", name).Run() // left over by a killed run
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	Run(t, "ip", "-n", name, "link", "set", "lo", "up")
	var st unix.Stat_t
	if err := unix.Stat("/run/netns/"+name, &st); err != nil {
		t.Fatalf("stat netns %s: %v", name, err)
	}
	return &Netns{Name: name, Inode: st.Ino}
}

// Exec runs a command inside the namespace.
func (n *Netns) Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Do runs fn with the calling goroutine's thread inside the namespace, so
// sockets fn creates belong to it. The thread returns to its namespace
// before Do returns.
func (n *Netns) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + n.Name)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", n.Name, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is in the wrong namespace; do not let Go reuse it.
		runtime.Goexit()
	}
	return fnErr
}

// Link is a veth pair between two namespaces with one address on each end.
type Link struct {
	A, B         *Netns
	DevA, DevB   string
	AddrA, AddrB string // without prefix length
}

// NewVethPair joins a and b with a veth pair, addresses addrA/addrB given
// with prefix length (e.g. "198.18.0.1/30", "2001:db8::1/64"). Each entry of
// extra adds one more address pair on the same link ("addrA addrB").
// TSO/GSO/GRO are off so one dropped packet is one lost segment.
func NewVethPair(t testing.TB, a, b *Netns, devA, devB, addrA, addrB string, extra ...[2]string) *Link {
	t.Helper()
	Run(t, "ip", "link", "add", devA, "netns", a.Name, "type", "veth", "peer", "name", devB, "netns", b.Name)
	for _, pair := range append([][2]string{{addrA, addrB}}, extra...) {
		addArgs := func(addr string) []string {
			args := []string{"addr", "add", addr}
			if strings.Contains(addr, ":") {
				args = append(args, "nodad")
			}
			return args
		}
		a.Exec(t, "ip", append(addArgs(pair[0]), "dev", devA)...)
		b.Exec(t, "ip", append(addArgs(pair[1]), "dev", devB)...)
	}
	for _, side := range []struct {
		ns  *Netns
		dev string
	}{{a, devA}, {b, devB}} {
		side.ns.Exec(t, "ip", "link", "set", side.dev, "up")
		if _, err := exec.LookPath("ethtool"); err == nil {
			side.ns.Exec(t, "ethtool", "-K", side.dev, "tso", "off", "gso", "off", "gro", "off")
		}
	}
	return &Link{A: a, B: b, DevA: devA, DevB: devB, AddrA: strip(addrA), AddrB: strip(addrB)}
}

func strip(cidr string) string {
	addr, _, _ := strings.Cut(cidr, "/")
	return addr
}

// DropInput adds an nftables table to ns that drops percent% of incoming
// non-SYN TCP segments on port (as source or destination). Dropping on the
// receiving side makes the sender retransmit (docs/design.md §6). The table goes
// with the namespace; it is also deleted explicitly at cleanup.
func DropInput(t testing.TB, ns *Netns, port int, percent int) {
	t.Helper()
	table := "crosshair_test"
	rules := fmt.Sprintf(`table inet %[1]s {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %[2]d tcp flags & syn == 0 numgen random mod 100 < %[3]d drop
		tcp sport %[2]d tcp flags & syn == 0 numgen random mod 100 < %[3]d drop
	}
}
`, table, port, percent)
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = bytes.NewBufferString(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s", ns.Name, err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "exec", ns.Name, "nft", "delete", "table", "inet", table).Run()
	})
}

// Transfer sends n bytes over TCP from a client socket in l.A to a server
// in l.B listening on port, waits until the server has read them all, and
// returns the client socket's local and remote address (IPv4-mapped
// addresses unmapped).
func (l *Link) Transfer(t testing.TB, port, n int) (local, remote netip.AddrPort) {
	t.Helper()
	addr := net.JoinHostPort(l.AddrB, fmt.Sprint(port))
	var ln net.Listener
	if err := l.B.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, l.B.Name, err)
	}
	defer ln.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		got, _ := io.Copy(io.Discard, c)
		received <- got
	}()
	var conn net.Conn
	if err := l.A.Do(func() (err error) { conn, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }); err != nil {
		t.Fatalf("dial %s from %s: %v", addr, l.A.Name, err)
	}
	if _, err := conn.Write(make([]byte, n)); err != nil {
		t.Fatalf("write %d bytes to %s: %v", n, addr, err)
	}
	local = conn.LocalAddr().(*net.TCPAddr).AddrPort()
	remote = conn.RemoteAddr().(*net.TCPAddr).AddrPort()
	if err := conn.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case got := <-received:
		if got != int64(n) {
			t.Fatalf("server received %d bytes, want %d", got, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("transfer of %d bytes to %s did not finish in 30s", n, addr)
	}
	return netip.AddrPortFrom(local.Addr().Unmap(), local.Port()), netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
}
