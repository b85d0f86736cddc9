package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NewCgroupV1 creates /sys/fs/cgroup/<controller>/crosshair-test-<name>,
// writes settings (file → value) into it and, at the end of the test, kills
// whatever still runs in it and removes it.
func NewCgroupV1(t testing.TB, controller, name string, settings map[string]string) string {
	t.Helper()
	root := filepath.Join("/sys/fs/cgroup", controller)
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		SkipOrFail(t, "no cgroup v1 %s controller at %s: %v", controller, root, err)
	}
	dir := filepath.Join(root, "crosshair-test-"+name)
	removeCgroup(dir) // left over by a killed run
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup %s: %v", dir, err)
	}
	t.Cleanup(func() { removeCgroup(dir) })
	for file, value := range settings {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
			t.Fatalf("write %s=%s in %s: %v", file, value, dir, err)
		}
	}
	return dir
}

// removeCgroup kills the tasks of dir and removes it (retrying while they die).
func removeCgroup(dir string) {
	for i := 0; i < 100; i++ {
		raw, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return // gone
		}
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartInCgroup starts `sh -c script` after moving the shell into the
// cgroup directories; script's pid is the shell's (use exec). The process is
// killed at the end of the test.
func StartInCgroup(t testing.TB, script string, cgroups ...string) *exec.Cmd {
	t.Helper()
	var join strings.Builder
	for _, cg := range cgroups {
		fmt.Fprintf(&join, "echo $$ > %s/cgroup.procs && ", cg)
	}
	cmd := exec.Command("sh", "-c", join.String()+script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", script, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && out.Len() > 0 {
			t.Logf("output of %q:\n%s", script, out.String())
		}
	})
	return cmd
}

// LoopDevice attaches a loop device to a sizeMB file in a temporary
// directory and detaches it at the end of the test. It returns /dev/loopN
// and its major:minor.
func LoopDevice(t testing.TB, sizeMB int) (dev, majMin string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMB) << 20); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	dev = strings.TrimSpace(Run(t, "losetup", "--find", "--show", file))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	var st syscall.Stat_t
	if err := syscall.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	maj, min := (st.Rdev>>8)&0xfff|(st.Rdev>>32)&^0xfff, st.Rdev&0xff|(st.Rdev>>12)&^0xff
	return dev, fmt.Sprintf("%d:%d", maj, min)
}
