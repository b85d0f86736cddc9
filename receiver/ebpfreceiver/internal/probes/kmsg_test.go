package probes

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

func TestParseKmsg(t *testing.T) {
	rec, ok := ParseKmsg([]byte("4,1234,5678901,-;virtio_net virtio0 eth0: TX timeout on queue: 0\n SUBSYSTEM=virtio\n"))
	require.True(t, ok)
	assert.Equal(t, KmsgRecord{Priority: 4, Seq: 1234, BootUs: 5678901, Message: "virtio_net virtio0 eth0: TX timeout on queue: 0"}, rec)
	for _, bad := range []string{"", "no semicolon", "x,1,2;m", "1,2;m"} {
		_, ok := ParseKmsg([]byte(bad))
		assert.False(t, ok, bad)
	}
}

func TestKeywordTable(t *testing.T) {
	table, err := NewKeywordTable([]Keyword{{Pattern: `my runtime exploded`, Layer: "L4"}, {Pattern: `OOMKilled`, Layer: "L4"}})
	require.NoError(t, err)
	for line, want := range map[string]string{
		"virtio_net virtio0 eth0: TX timeout on queue: 0":   "L2",
		"kvm: VMX operation failed":                         "L0",
		"Memory cgroup out of memory: Killed process 1 (x)": "L3",
		"OOMKilled":                 "L4", // config overrides the default
		"my runtime exploded today": "L4",
		"blk_update_request: I/O error, dev vda, sector 0 op 0x1:(WRITE)": "L0",
		"gVisor: Sentry syscall denied: 42":                               "L4",
		"QEMU process crashed":                                            "L1",
	} {
		layer, _, ok := table.Match(line)
		assert.True(t, ok, line)
		assert.Equal(t, want, layer, line)
	}
	_, _, ok := table.Match("eth0: link up")
	assert.False(t, ok)
	_, err = NewKeywordTable([]Keyword{{Pattern: "x", Layer: "L9"}})
	require.Error(t, err)
	_, err = NewKeywordTable([]Keyword{{Pattern: "(", Layer: "L1"}})
	require.Error(t, err)
}

// bridgeStateLines makes the kernel log lines about a device: a bridge in
// a namespace of the test's own, its port entering the blocking state
// ("chxbr14: port 1(chxv14a) entered blocking state").
func bridgeStateLines(t *testing.T) {
	ns := testenv.NewNetns(t, "chx-kmsg14")
	ns.Exec(t, "ip", "link", "add", "chxbr14", "type", "bridge")
	ns.Exec(t, "ip", "link", "add", "chxv14a", "type", "veth", "peer", "name", "chxv14b")
	ns.Exec(t, "ip", "link", "set", "chxv14a", "master", "chxbr14")
	ns.Exec(t, "ip", "link", "set", "chxbr14", "up")
	ns.Exec(t, "ip", "link", "set", "chxv14a", "up")
}

// pollFor polls a until a record's body contains marker.
func pollFor(t *testing.T, a *Attachment, within time.Duration, match func(plog.LogRecord) bool) (plog.LogRecord, bool) {
	logs := plog.NewLogRecordSlice()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		require.NoError(t, a.PollEvents(time.Now(), logs))
		for i := 0; i < logs.Len(); i++ {
			if match(logs.At(i)) {
				return logs.At(i), true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return plog.LogRecord{}, false
}

// TestKernelLogFollowsKmsg: a line the kernel writes about a device
// becomes a kernel.log record naming the device; the same keyword written
// to /dev/kmsg from user space does not.
func TestKernelLogFollowsKmsg(t *testing.T) {
	testenv.RequireRoot(t, "ip")
	a, err := attachKernelLog(&attachEnv{host: &HostOptions{KmsgPath: "/dev/kmsg", ExtraKeywords: []Keyword{{Pattern: `entered blocking state`, Layer: "L3"}}}})
	require.NoError(t, err)
	defer a.closers[0].Close()
	marker := fmt.Sprintf("crosshair-test-%d", time.Now().UnixNano())
	require.NoError(t, os.WriteFile("/dev/kmsg", []byte("virtio_net virtio0 eth0: TX timeout on queue: 0 "+marker+"\n"), 0o200))
	bridgeStateLines(t)
	lr, ok := pollFor(t, a, 5*time.Second, func(lr plog.LogRecord) bool {
		return strings.Contains(lr.Body().Str(), "chxv14a") && strings.Contains(lr.Body().Str(), "blocking state")
	})
	require.True(t, ok, "the kernel's bridge line")
	v, _ := lr.Attributes().Get(contract.AttrIsolationLayer)
	assert.Equal(t, contract.LayerL3, v.Str())
	dev, ok := lr.Attributes().Get(contract.AttrLogDevice)
	require.True(t, ok, "the line names a device")
	assert.NotEmpty(t, dev.AsString())
	_, forged := pollFor(t, a, 500*time.Millisecond, func(lr plog.LogRecord) bool { return strings.Contains(lr.Body().Str(), marker) })
	assert.False(t, forged, "a user-space write to /dev/kmsg became kernel evidence")
}

// Issue 14 row 5: a process named after a keyword that segfaults puts the
// keyword into the kernel's own log line; it is not evidence.
func TestTaskNameIsNoEvidence(t *testing.T) {
	testenv.RequireRoot(t, "python3")
	if b, err := os.ReadFile("/proc/sys/debug/exception-trace"); err != nil || strings.TrimSpace(string(b)) != "1" {
		testenv.SkipOrFail(t, "the kernel does not log segfaults (debug.exception-trace)")
	}
	a, err := attachKernelLog(&attachEnv{host: &HostOptions{KmsgPath: "/dev/kmsg"}})
	require.NoError(t, err)
	defer a.closers[0].Close()
	// The raw log, to see the kernel did write the forged line.
	raw, err := os.Open("/dev/kmsg")
	require.NoError(t, err)
	defer raw.Close()
	_, err = raw.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	cmd := exec.Command("python3", "-c", "import ctypes; open('/proc/self/comm','w').write('EPT violation'); ctypes.string_at(0)")
	require.Error(t, cmd.Run(), "the child segfaults")
	buf := make([]byte, 8192)
	seen := false
	require.NoError(t, raw.SetDeadline(time.Now().Add(5*time.Second)))
	for !seen {
		n, err := raw.Read(buf)
		if err != nil {
			break
		}
		seen = strings.Contains(string(buf[:n]), "EPT violation[") && strings.Contains(string(buf[:n]), "segfault")
	}
	if !seen {
		testenv.SkipOrFail(t, "the kernel did not log the segfault (rate limited?)")
	}
	lr, forged := pollFor(t, a, 500*time.Millisecond, func(lr plog.LogRecord) bool { return strings.Contains(lr.Body().Str(), "EPT violation") })
	if forged {
		t.Errorf("a task name became evidence: %s", lr.Body().Str())
	}
}

func TestTrustedText(t *testing.T) {
	for _, tc := range []struct {
		line, layer, dev string
		pid              int64
	}{
		{line: "EPT violation[4242]: segfault at 0 ip 000055d1 sp 00007ffc error 4 in EPT violation[55d1a2b0,1000] likely on CPU 1"},
		{line: "traps: VF reset[4242] general protection fault ip:55d1 sp:7ffc error:0 in x[55d1+1000]"},
		{line: "CPU: 1 PID: 4242 Comm: EPT violation Not tainted 6.18.0 #1"},
		{line: "audit: type=1326 audit(1.2:3): auid=0 uid=0 pid=4242 comm=\"VF reset\" exe=\"/tmp/VF reset\" sig=0"},
		{line: "Memory cgroup out of memory: Killed process 4242 (EPT violation) total-vm:1kB", layer: "L3", pid: 4242},
		{line: "virtio_net virtio0 eth0: TX timeout on queue: 0", layer: "L2", dev: "virtio0"},
		{line: "I/O error, dev vda, sector 0 op 0x1:(WRITE) flags 0x0", layer: "L0", dev: "vda"},
		{line: "mce: [Hardware Error]: Machine check events logged", layer: "L0", dev: "cpu"},
		{line: "kvm: VMX operation failed", layer: "L0", dev: "kvm"},
	} {
		table, err := NewKeywordTable(nil)
		require.NoError(t, err)
		text := TrustedText(tc.line)
		layer, _, _ := table.Match(text)
		assert.Equal(t, tc.layer, layer, tc.line)
		if tc.layer != "" {
			assert.Equal(t, tc.dev, LineDevice(text), tc.line)
			assert.Equal(t, tc.pid, LinePID(text), tc.line)
		}
	}
	assert.True(t, KernelWritten(KmsgRecord{Priority: 4}))
	assert.False(t, KernelWritten(KmsgRecord{Priority: 1<<3 | 4}), "LOG_USER: a user-space write")
}
