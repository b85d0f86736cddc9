package ebpfreceiver

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// statusHost records the component status events the receiver reports, as
// the collector's service host does for health_check v2 and status reporters.
type statusHost struct {
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) GetExtensions() map[component.ID]component.Component { return nil }

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func (h *statusHost) reported() []*componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*componentstatus.Event(nil), h.events...)
}

func startWithHost(t *testing.T, cfg *Config) *statusHost {
	t.Helper()
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	r.nextLogs = new(consumertest.LogsSink)
	host := &statusHost{}
	require.NoError(t, r.Start(context.Background(), host))
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return host
}

// TestDisabledProbeIsDegradedStatus: a probe that cannot attach makes the
// receiver a recoverable error (degraded) naming the probe and why.
func TestDisabledProbeIsDegradedStatus(t *testing.T) {
	testenv.RequireRoot(t)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"conntrack", "tcp_reset"}
	cfg.Conntrack.StatPath = t.TempDir() + "/absent"
	events := startWithHost(t, cfg).reported()
	require.Len(t, events, 1)
	assert.Equal(t, componentstatus.StatusRecoverableError, events[0].Status())
	require.Error(t, events[0].Err())
	assert.Contains(t, events[0].Err().Error(), "1 of 2 probes disabled: conntrack: ")
	assert.Contains(t, events[0].Err().Error(), "absent")
}

// TestAllProbesAttachedReportsNothing: with every probe attached the receiver
// reports no error, so the service's own OK stands.
func TestAllProbesAttachedReportsNothing(t *testing.T) {
	testenv.RequireRoot(t)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"tcp_reset"}
	assert.Empty(t, startWithHost(t, cfg).reported())
}
