package probes

import (
	"fmt"
	"os"
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

func TestKernelLogFollowsKmsg(t *testing.T) {
	testenv.RequireRoot(t)
	a, err := attachKernelLog(&attachEnv{host: &HostOptions{KmsgPath: "/dev/kmsg"}})
	require.NoError(t, err)
	defer a.closers[0].Close()
	marker := fmt.Sprintf("crosshair-test-%d", time.Now().UnixNano())
	require.NoError(t, os.WriteFile("/dev/kmsg", []byte("virtio_net virtio0 eth0: TX timeout on queue: 0 "+marker+"\n"), 0o200))
	logs := plog.NewLogRecordSlice()
	require.Eventually(t, func() bool {
		require.NoError(t, a.PollEvents(time.Now(), logs))
		for i := 0; i < logs.Len(); i++ {
			if strings.Contains(logs.At(i).Body().Str(), marker) {
				v, _ := logs.At(i).Attributes().Get(contract.AttrIsolationLayer)
				return v.Str() == contract.LayerL2
			}
		}
		return false
	}, 3*time.Second, 50*time.Millisecond)
}
