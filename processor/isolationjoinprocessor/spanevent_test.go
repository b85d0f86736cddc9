package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

// TestSpanEventPeerOnlyWhenNotTheSpans: a span event names the socket's
// peer only when it is not the peer the span already names, i.e. when the
// other end of the connection saw the event.
func TestSpanEventPeerOnlyWhenNotTheSpans(t *testing.T) {
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	_, err := p.processLogs(context.Background(), eventLogs(
		// The span's own socket (client side): its peer is the span's.
		retransmit(10*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
		// The server's socket of the same connection: its peer is the client.
		retransmit(20*time.Millisecond, srvIP, srvPort, cliIP, cliPort, nil),
	))
	require.NoError(t, err)
	td, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.NoError(t, err)
	s := allSpans(td)[0]
	require.Equal(t, 2, s.Events().Len(), "both ends' retransmits on the span")

	own := s.Events().At(0).Attributes()
	assert.Equal(t, contract.LayerNetwork, mustStr(t, own, contract.AttrIsolationLayer))
	_, has := own.Get(contract.AttrNetworkPeerAddress)
	assert.False(t, has, "the span's own socket: its peer is the span's network.peer.address")
	_, has = own.Get(contract.AttrNetworkPeerPort)
	assert.False(t, has)

	other := s.Events().At(1).Attributes()
	assert.Equal(t, cliIP, mustStr(t, other, contract.AttrNetworkPeerAddress), "the other end saw it: its peer is the client")
	port, ok := other.Get(contract.AttrNetworkPeerPort)
	require.True(t, ok)
	assert.Equal(t, int64(cliPort), port.Int())
}

// TestAppSpansCarryNoEvidenceUnlessConfigured: a span whose verdict is app
// (one retransmit in a 3s span explains too little of it) gets its verdict
// and a cause naming what was weighed, but neither evidence sums nor span
// events — unless evidence_on_app_spans asks for them. A blamed span gets
// them either way.
func TestAppSpansCarryNoEvidenceUnlessConfigured(t *testing.T) {
	weak := clientSpan(cliIP, cliPort, srvIP, srvPort)
	weak.dur = 3 * time.Second
	blamed := clientSpan(cliIP, cliPort, srvIP, srvPort)
	blamed.dur = 300 * time.Millisecond
	for _, on := range []bool{false, true} {
		cfg := createDefaultConfig()
		cfg.EvidenceOnAppSpans = on
		p, _, _ := newTestProcessor(t, cfg)
		_, err := p.processLogs(context.Background(), eventLogs(retransmit(10*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil)))
		require.NoError(t, err)
		td, err := p.processTraces(context.Background(), spanTraces(weak, blamed))
		require.NoError(t, err)
		spans := allSpans(td)

		s := spans[0]
		assert.Equal(t, contract.LayerApp, attr(s, contract.AttrIsolationLayer))
		assert.Equal(t, "5tuple", attr(s, attrJoin))
		assert.Contains(t, attr(s, attrCause), "1 tcp retransmit", "the cause names the evidence weighed")
		if on {
			assert.Equal(t, int64(1), attr(s, attrRetransmits), "evidence_on_app_spans: the sums")
			assert.Equal(t, 1, s.Events().Len(), "evidence_on_app_spans: the span event")
		} else {
			assert.Nil(t, attr(s, attrRetransmits), "no evidence sums on an app span by default")
			assert.Zero(t, s.Events().Len(), "no span events on an app span by default")
		}

		s = spans[1]
		assert.Equal(t, contract.LayerNetwork, attr(s, contract.AttrIsolationLayer), "%v", attr(s, attrCause))
		assert.Equal(t, int64(1), attr(s, attrRetransmits))
		assert.Equal(t, 1, s.Events().Len())
	}
}

func mustStr(t *testing.T, m pcommon.Map, k string) string {
	t.Helper()
	v, ok := m.Get(k)
	require.True(t, ok, "attribute %s", k)
	return v.Str()
}
