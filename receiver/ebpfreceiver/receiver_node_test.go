package ebpfreceiver

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/nodeid"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// conntrackStat is /proc/net/stat/nf_conntrack with one CPU row whose
// insert_failed column is n.
func conntrackStat(n int) []byte {
	return []byte("entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n" +
		"00000000  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 " + fmt.Sprintf("%08x", n) + " 00000000 00000000 00000000  00000000 00000000 00000000 00000000\n")
}

// TestEventsNameTheKubernetesNode: with K8S_NODE_NAME set (the DaemonSet's
// downward API spec.nodeName) every batch's resource carries k8s.node.name
// next to host.name (which in a pod is the pod's name).
func TestEventsNameTheKubernetesNode(t *testing.T) {
	testenv.RequireRoot(t)
	t.Setenv(nodeid.EnvVar, "node-n")
	host, err := os.Hostname()
	require.NoError(t, err)
	stat := filepath.Join(t.TempDir(), "nf_conntrack")
	require.NoError(t, os.WriteFile(stat, conntrackStat(1), 0o600))

	cfg := createDefaultConfig()
	cfg.Probes = []string{"conntrack"}
	cfg.Conntrack.StatPath = stat
	cfg.PollInterval = 20 * time.Millisecond
	sink := new(consumertest.LogsSink)
	startReceiver(t, cfg, sink, nil)
	// Two insertions fail on the node.
	require.NoError(t, os.WriteFile(stat, conntrackStat(3), 0o600))

	require.Eventually(t, func() bool { return len(findRecords(sink, contract.EventConntrackInsertFailed)) > 0 }, 5*time.Second, 20*time.Millisecond)
	for _, l := range sink.AllLogs() {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			res := l.ResourceLogs().At(i).Resource().Attributes().AsRaw()
			assert.Equal(t, "node-n", res["k8s.node.name"])
			assert.Equal(t, host, res["host.name"])
		}
	}
	rec := findRecords(sink, contract.EventConntrackInsertFailed)[0]
	v, _ := rec.Attributes().Get(contract.AttrConntrackInsertFailed)
	assert.Equal(t, int64(2), v.Int())
}
