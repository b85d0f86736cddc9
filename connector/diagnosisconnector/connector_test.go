package diagnosisconnector

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/connector/diagnosisconnector/internal/metadata"
	"github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// addSpan appends one span of service (one resource per span, as services
// send them), start and end in ms after t0.
func addSpan(td ptrace.Traces, tid pcommon.TraceID, service string, id, parent byte, name string, kind ptrace.SpanKind, startMs, endMs int, attrs map[string]any) {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(tid)
	s.SetSpanID(pcommon.SpanID{id})
	if parent != 0 {
		s.SetParentSpanID(pcommon.SpanID{parent})
	}
	s.SetName(name)
	s.SetKind(kind)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(startMs) * time.Millisecond)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(endMs) * time.Millisecond)))
	if err := s.Attributes().FromRaw(attrs); err != nil {
		panic(err)
	}
}

// slowTrace: order's client call to payment took 236ms, and isolation_join
// tagged it L3 with its evidence; the rest is fast.
func slowTrace(td ptrace.Traces, tid pcommon.TraceID) {
	addSpan(td, tid, "order", 1, 0, "GET /order", ptrace.SpanKindServer, 0, 240, map[string]any{"isolation.layer": "app"})
	addSpan(td, tid, "order", 2, 1, "GET", ptrace.SpanKindClient, 2, 238, map[string]any{
		"server.address": "payment", "server.port": int64(8082),
		"isolation.join": "peer", "isolation.layer": "L3",
		"isolation.cause":        "netfilter drop NETFILTER_DROP ×1; tcp retransmits 1",
		"kernel.tcp.retransmits": int64(1), "kernel.skb.drops": int64(1),
	})
	addSpan(td, tid, "payment", 3, 2, "GET /pay", ptrace.SpanKindServer, 230, 234, nil)
}

func startConnector(t *testing.T, cfg *Config) (*diagnosisConnector, *consumertest.LogsSink) {
	t.Helper()
	sink := new(consumertest.LogsSink)
	c, err := NewFactory().CreateTracesToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	return c.(*diagnosisConnector), sink
}

func TestReportBecomesALogRecord(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.SlowThreshold = 100 * time.Millisecond
	cfg.TraceWait = 0 // report as soon as the batch is in
	c, sink := startConnector(t, cfg)

	slow := pcommon.TraceID{7, 1, 2, 3}
	fast := pcommon.TraceID{8, 1, 2, 3}
	td := ptrace.NewTraces()
	slowTrace(td, slow)
	addSpan(td, fast, "order", 9, 0, "GET /health", ptrace.SpanKindServer, 0, 3, nil)
	require.NoError(t, c.ConsumeTraces(context.Background(), td))

	require.Equal(t, 1, sink.LogRecordCount(), "one report: the slow trace, not the fast one")
	rl := sink.AllLogs()[0].ResourceLogs().At(0)
	service, _ := rl.Resource().Attributes().Get("service.name")
	assert.Equal(t, "order", service.Str(), "the slow hop's service")
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, diagnosisexporter.EventName, lr.EventName())
	assert.Equal(t, slow, lr.TraceID(), "linked to its trace")
	assert.Equal(t, pcommon.SpanID{2}, lr.SpanID(), "and to the slow hop's span")
	assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(2*time.Millisecond)), lr.Timestamp(), "stamped with the slow hop's start")
	assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
	assert.Contains(t, lr.Body().Str(), "①  slow hop: order → payment")
	assert.Contains(t, lr.Body().Str(), "②  layer:    L3 (join peer)")

	a := lr.Attributes().AsRaw()
	assert.Equal(t, "L3", a["isolation.layer"])
	assert.Equal(t, "peer", a["isolation.join"])
	assert.Equal(t, "netfilter drop NETFILTER_DROP ×1; tcp retransmits 1", a["isolation.cause"])
	assert.Equal(t, "order", a[diagnosisexporter.AttrHopService])
	assert.Equal(t, "payment", a[diagnosisexporter.AttrHopPeer])
	assert.Equal(t, "client", a[diagnosisexporter.AttrHopKind])
	assert.InDelta(t, 236.0, a[diagnosisexporter.AttrHopDuration], 0.001)
	assert.InDelta(t, 240.0, a[diagnosisexporter.AttrRootDuration], 0.001)
	assert.Equal(t, map[string]any{"kernel.tcp.retransmits": int64(1), "kernel.skb.drops": int64(1)}, a[diagnosisexporter.AttrEvidence])
	assert.NotEmpty(t, a[diagnosisexporter.AttrRemedy])
	assert.Equal(t, int64(3), a[diagnosisexporter.AttrSpans])
}

// TestReportsWaitForTheTrace: with trace_wait, a trace's later batches are
// part of its one report, made by the connector's own flush loop.
func TestReportsWaitForTheTrace(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.SlowThreshold = 100 * time.Millisecond
	cfg.TraceWait = 200 * time.Millisecond
	c, sink := startConnector(t, cfg)
	tid := pcommon.TraceID{9}
	all := ptrace.NewTraces()
	slowTrace(all, tid)
	// Each span in its own batch, as three services would export them.
	for i := 0; i < all.ResourceSpans().Len(); i++ {
		td := ptrace.NewTraces()
		all.ResourceSpans().At(i).CopyTo(td.ResourceSpans().AppendEmpty())
		require.NoError(t, c.ConsumeTraces(context.Background(), td))
	}
	assert.Zero(t, sink.LogRecordCount(), "no report before trace_wait")
	require.Eventually(t, func() bool { return sink.LogRecordCount() == 1 }, 5*time.Second, 20*time.Millisecond)
	spans, _ := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Get(diagnosisexporter.AttrSpans)
	assert.Equal(t, int64(3), spans.Int())
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	custom := createDefaultConfig()
	custom.SlowThreshold = 250 * time.Millisecond
	custom.TraceWait = 5 * time.Second
	custom.Remedies = []diagnosisexporter.RemedyRule{{Layer: "L3", Match: "throttled", Hint: "raise the CPU limit"}}
	for _, tt := range []struct {
		name    string
		want    *Config
		wantErr string
	}{
		{name: "", want: createDefaultConfig()},
		{name: "custom", want: custom},
		{name: "bad_threshold", wantErr: "slow_threshold: must be positive, got 0s"},
		{name: "bad_remedy", wantErr: `remedies[0].layer: unknown layer "L9"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tt.name).String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
