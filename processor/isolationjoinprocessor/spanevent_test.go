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

func mustStr(t *testing.T, m pcommon.Map, k string) string {
	t.Helper()
	v, ok := m.Get(k)
	require.True(t, ok, "attribute %s", k)
	return v.Str()
}
