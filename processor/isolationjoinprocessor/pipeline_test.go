package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
)

// TestPipelineSharesOneInstance builds the logs and traces pipelines the
// way the collector does (same factory, same component ID) and checks that
// kernel events fed to one tag the spans of the other.
func TestPipelineSharesOneInstance(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	set := processortest.NewNopSettings(metadata.Type)
	logsSink, tracesSink := new(consumertest.LogsSink), new(consumertest.TracesSink)
	lp, err := f.CreateLogs(context.Background(), set, cfg, logsSink)
	require.NoError(t, err)
	tp, err := f.CreateTraces(context.Background(), set, cfg, tracesSink)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, lp.Start(context.Background(), host))
	require.NoError(t, tp.Start(context.Background(), host))

	// Spans first (held), then the kernel events of their window.
	spans := spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort), clientSpan(cliIP, cliPort+1, srvIP, srvPort))
	require.NoError(t, tp.ConsumeTraces(context.Background(), spans))
	assert.Zero(t, tracesSink.SpanCount(), "held for their kernel events")

	logs := eventLogs(
		retransmit(50*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
		kernelEvent{name: contract.EventCPUSteal, at: time.Second, attrs: kv{contract.AttrCPUStealNs: 1}},
	)
	want := plog.NewLogs()
	logs.CopyTo(want)
	require.NoError(t, lp.ConsumeLogs(context.Background(), logs))
	require.Len(t, logsSink.AllLogs(), 1)
	assert.Equal(t, want, logsSink.AllLogs()[0], "logs pass through unchanged")

	require.Eventually(t, func() bool { return tracesSink.SpanCount() == 2 }, 10*time.Second, time.Millisecond)
	got := sinkSpans(tracesSink)
	assert.Equal(t, "5tuple", attr(got[0], attrJoin))
	assert.Equal(t, int64(1), attr(got[0], attrRetransmits))
	assert.Equal(t, "unmatched", attr(got[1], attrJoin))

	// A held batch is still delivered when the pipelines stop.
	late := clientSpan(cliIP, 1, srvIP, 2)
	late.start = 5 * time.Second // past the watermark: held
	require.NoError(t, tp.ConsumeTraces(context.Background(), spanTraces(late)))
	assert.Equal(t, 2, tracesSink.SpanCount())
	require.NoError(t, tp.Shutdown(context.Background()))
	require.NoError(t, lp.Shutdown(context.Background()))
	assert.Equal(t, 3, tracesSink.SpanCount())
}
