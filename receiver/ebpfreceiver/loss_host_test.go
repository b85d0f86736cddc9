package ebpfreceiver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadatatest"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/probes"
)

// sumOf is the total of a sum metric's data points whose attribute key is
// val, -1 when the metric is absent.
func sumOf(t *testing.T, tt *componenttest.Telemetry, name, key, val string) int64 {
	m, err := tt.GetMetric(name)
	if err != nil {
		return -1
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value(attributeKey(key)); ok && v.AsString() == val {
			total += dp.Value
		}
	}
	return total
}

// Issue 14 row 13: kernel events the next consumer refuses are counted
// (events_refused{signal=logs}), and the file-polled ones are counted by
// probe (events_polled), not only logged.
func TestRefusedAndPolledEventsCounted(t *testing.T) {
	testenv.RequireRoot(t, "ip")
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := hostConfig("kernel_log")
	cfg.KernelLog.Keywords = []probes.Keyword{{Pattern: `entered blocking state`, Layer: "L2"}}
	r, err := newReceiver(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	r.nextLogs = consumertest.NewErr(errors.New("pipeline full"))
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	ns := testenv.NewNetns(t, "chx-loss14")
	ns.Exec(t, "ip", "link", "add", "chxbrl", "type", "bridge")
	ns.Exec(t, "ip", "link", "add", "chxla", "type", "veth", "peer", "name", "chxlb")
	ns.Exec(t, "ip", "link", "set", "chxla", "master", "chxbrl")
	ns.Exec(t, "ip", "link", "set", "chxbrl", "up")
	ns.Exec(t, "ip", "link", "set", "chxla", "up")
	require.Eventually(t, func() bool {
		return sumOf(t, tt, "otelcol_receiver_ebpf_events_refused", "signal", "logs") >= 1
	}, 5*time.Second, 50*time.Millisecond, "refused kernel events counted")
	require.Eventually(t, func() bool {
		return sumOf(t, tt, "otelcol_receiver_ebpf_events_polled", "probe", "kernel_log") == sumOf(t, tt, "otelcol_receiver_ebpf_events_refused", "signal", "logs")
	}, 5*time.Second, 50*time.Millisecond, "every polled record was refused, and counted")
}

func attributeKey(k string) attribute.Key { return attribute.Key(k) }
