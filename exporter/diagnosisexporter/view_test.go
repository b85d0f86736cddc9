package diagnosisexporter

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// The exporter with the view on serves each diagnosed trace on its own
// endpoint: the list links it, its page draws the slow hop and the kernel
// events the processor wrote as span events on the lane of their layer.
func TestViewServesDiagnosedTraces(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.SlowThreshold = 100 * time.Millisecond
	cfg.TraceWait = 0
	cfg.TextPath = ""
	cfg.View.Endpoint = "127.0.0.1:0"
	cfg.View.MaxTraces = 2
	e := newDiagnosisExporter(cfg, zap.NewNop())
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	base := "http://" + e.view.addr

	code, body := httpGet(t, base+"/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `id="empty"`)

	td := ptrace.NewTraces()
	addSpans(td, traceID(1), chain()...)
	// What the processor writes on each joined event.
	forEachSpan(td, func(_ string, s ptrace.Span) {
		for i := 0; i < s.Events().Len(); i++ {
			ev := s.Events().At(i)
			ev.Attributes().PutStr("isolation.layer", "L3")
			if ev.Name() == "kernel.skb.drop" {
				ev.Attributes().PutStr("kernel.skb.drop.reason", "NETFILTER_DROP")
			} else {
				ev.Attributes().PutDouble("kernel.time_ms", 200)
			}
		}
	})
	require.NoError(t, e.consumeTraces(context.Background(), td))

	id := traceID(1).String()
	code, body = httpGet(t, base+"/?layer=L3")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `href="/trace/`+id+`"`)
	code, body = httpGet(t, base+"/?layer=L2")
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, id)

	code, body = httpGet(t, base+"/trace/"+id)
	require.Equal(t, http.StatusOK, code, body)
	slowID := pcommon.SpanID{4}.String()
	assert.Contains(t, body, `<g class="span slow" data-span-id="`+slowID+`"`)
	lane := body[strings.Index(body, `id="lane-L3"`):]
	lane = lane[:strings.Index(lane, "\n</g>")]
	assert.Contains(t, lane, `data-kind="kernel.skb.drop" data-span-id="`+slowID+`"`)
	assert.Contains(t, lane, `data-kind="kernel.tcp.retransmit"`)
	assert.Contains(t, body, "kernel.skb.drop.reason=NETFILTER_DROP")
	assert.Contains(t, body, "check nftables/iptables rules")

	// The ring keeps the last view.max_traces.
	for b := byte(2); b <= 3; b++ {
		td := ptrace.NewTraces()
		addSpans(td, traceID(b), chain()...)
		require.NoError(t, e.consumeTraces(context.Background(), td))
	}
	code, _ = httpGet(t, base+"/trace/"+id)
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = httpGet(t, base+"/trace/"+traceID(3).String())
	assert.Equal(t, http.StatusOK, code)
}

func TestViewEndpointInUseFailsStart(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.View.Endpoint = "127.0.0.1:0"
	first := newDiagnosisExporter(cfg, zap.NewNop())
	require.NoError(t, first.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, first.shutdown(context.Background())) })

	cfg2 := createDefaultConfig()
	cfg2.View.Endpoint = first.view.addr
	second := newDiagnosisExporter(cfg2, zap.NewNop())
	err := second.start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "view.endpoint:")
	require.NoError(t, second.shutdown(context.Background()))
}
