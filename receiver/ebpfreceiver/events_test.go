package ebpfreceiver

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// TestEveryContractEventIsDeclared: metadata.yaml's events (and so
// documentation.md) name exactly the event names of the kernel-event
// contract, and every attribute declared for them is a contract attribute.
func TestEveryContractEventIsDeclared(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "internal", "contract", "contract.go"))
	require.NoError(t, err)
	var want []string
	for _, m := range regexp.MustCompile(`Event\w+\s*=\s*"(kernel\.[^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		want = append(want, m[1])
	}
	var declared []string
	ty := reflect.TypeOf(metadata.EventsConfig{})
	for i := 0; i < ty.NumField(); i++ {
		declared = append(declared, ty.Field(i).Tag.Get("mapstructure"))
	}
	slices.Sort(want)
	slices.Sort(declared)
	require.Equal(t, want, declared)

	attrs := map[string]bool{}
	for _, m := range regexp.MustCompile(`Attr\w+\s*=\s*"([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		attrs[m[1]] = true
	}
	doc, err := os.ReadFile("documentation.md")
	require.NoError(t, err)
	events := string(doc)[regexp.MustCompile(`(?m)^## Default Events`).FindStringIndex(string(doc))[0]:]
	for _, m := range regexp.MustCompile(`(?m)^\| ([a-z][\w.]*) \|`).FindAllStringSubmatch(events, -1) {
		if m[1] == "host.name" || m[1] == "k8s.node.name" {
			continue
		}
		assert.True(t, attrs[m[1]], "documentation.md lists %s for an event; not a contract attribute", m[1])
	}
}

// TestDisabledEventIsDropped: `events: {kernel.conntrack.insert_failed:
// {enabled: false}}` keeps the probe running (its metrics) but sends none of
// its records.
func TestDisabledEventIsDropped(t *testing.T) {
	testenv.RequireRoot(t)
	stat := filepath.Join(t.TempDir(), "nf_conntrack")
	require.NoError(t, os.WriteFile(stat, conntrackStat(1), 0o600))
	cfg := createDefaultConfig()
	cfg.Probes = []string{"conntrack", "tcp_reset"}
	cfg.Conntrack.StatPath = stat
	cfg.PollInterval = 20 * time.Millisecond
	cfg.Events.KernelConntrackInsertFailed.Enabled = false
	sink := new(consumertest.LogsSink)
	r := startReceiver(t, cfg, sink, nil)
	require.NoError(t, os.WriteFile(stat, conntrackStat(5), 0o600))
	// Several polls see the rise; none of their records is sent.
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, findRecords(sink, contract.EventConntrackInsertFailed))
	assert.Contains(t, r.probes.Attached(), "conntrack")
}
