package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Sandbox is a command running inside a gVisor sandbox (runsc, ptrace
// platform, the host's network namespace).
type Sandbox struct {
	Cmd *exec.Cmd
	// SentryPID is the runsc-sandbox process: the Sentry, which traces the
	// application's stub processes and owns its host sockets.
	SentryPID int
	// Done is closed when runsc has exited.
	Done <-chan struct{}
}

// StartGVisor runs args inside `runsc --rootless --ignore-cgroups
// --network=host --platform=ptrace do` and waits until the Sentry is up. It skips (or
// fails under CI) when runsc is not installed; the sandbox is killed when
// the test ends. Stdout goes to stdout when it is not nil.
func StartGVisor(t testing.TB, stdout *bytes.Buffer, args ...string) *Sandbox {
	t.Helper()
	return StartGVisorIn(t, "", stdout, args...)
}

// StartGVisorIn is StartGVisor with runsc, and so its Sentry, gofer and
// stubs, started inside the cgroup (v1) directory cgroup ("" = the test's).
func StartGVisorIn(t testing.TB, cgroup string, stdout *bytes.Buffer, args ...string) *Sandbox {
	t.Helper()
	runsc, err := exec.LookPath("runsc")
	if err != nil {
		SkipOrFail(t, "needs gVisor's runsc on PATH (apt-get install runsc): %v", err)
	}
	// --ignore-cgroups: runsc would otherwise make a runsc-<id> cgroup in
	// every hierarchy, which a killed sandbox leaves behind.
	cmd := exec.Command(runsc, append([]string{"--rootless", "--ignore-cgroups", "--network=host", "--platform=ptrace", "do"}, args...)...)
	if cgroup != "" {
		// Joined before runsc starts: the shell execs it with its pid.
		cmd = exec.Command("/bin/sh", append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, cgroup, runsc}, cmd.Args[1:]...)...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// `runsc do` keeps its bundle and state in a runsc-do* directory under
	// TMPDIR and removes it only on a clean exit: the test's own temporary
	// directory goes away after the kill below.
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var stderr bytes.Buffer
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start runsc: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// The whole process group: runsc, its sandbox, gofer and stubs.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if pid := childWithArgv0(cmd.Process.Pid, "runsc-sandbox"); pid > 0 {
			return &Sandbox{Cmd: cmd, SentryPID: pid, Done: done}
		}
		select {
		case <-done:
			t.Fatalf("runsc exited before its sandbox started: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no runsc-sandbox child of runsc (pid %d) after 15s: %s", cmd.Process.Pid, stderr.String())
	return nil
}

// childWithArgv0 finds a child of parent whose argv[0] is name (runsc
// re-executes itself as /proc/self/exe, so its comm is "exe").
func childWithArgv0(parent int, name string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		fields := strings.Fields(string(stat[i+1:]))
		if i < 0 || len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if arg0, _, _ := bytes.Cut(argv, []byte{0}); string(arg0) == name {
			return pid
		}
	}
	return 0
}
