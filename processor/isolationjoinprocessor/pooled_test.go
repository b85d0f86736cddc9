package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

// TestPooledConnectionsPrecision measures what candidate connections do to
// precision: a client (host name only, like Go otelhttp) keeps a pool of
// four keep-alive connections through a Service VIP, four requests run at
// once, one request in twenty loses its response's first segment (a 200ms
// timeout retransmit on the server's socket), and fast retransmits of a
// few milliseconds hit the others. Every client span has four candidate
// connections (peer); a span must be blamed on the network only when its
// own exchange lost the segment.
func TestPooledConnectionsPrecision(t *testing.T) {
	const (
		pool     = 4
		perConn  = 50
		normal   = 20 * time.Millisecond
		rto      = 200 * time.Millisecond
		lossEach = 20
	)
	type exch struct {
		start, end time.Duration
		conn       int
		lossy      bool
	}
	var evs []kernelEvent
	var xs []exch
	for c := range pool {
		cport := 41000 + c
		evs = append(evs, viaService(cport)...)
		at := time.Duration(c) * 5 * time.Millisecond
		for i := range perConn {
			x := exch{start: at, end: at + normal, conn: c, lossy: (i+c*7)%lossEach == 3}
			if x.lossy {
				// The response's first segment, sent 10ms in, resent
				// after the RTO: the exchange ends 200ms late.
				x.end += rto
				evs = append(evs, lossOn(x.start+10*time.Millisecond+rto, rto, podIP, srvPort, cliIP, cport, srvPID))
			} else if i%3 == 0 {
				// A fast retransmit, recovered in 1ms, mid-exchange.
				evs = append(evs, lossOn(x.start+8*time.Millisecond, time.Millisecond, podIP, srvPort, cliIP, cport, srvPID))
			}
			xs = append(xs, x)
			at = x.end + 5*time.Millisecond
		}
	}
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	_, err := p.processLogs(context.Background(), eventLogs(evs...))
	require.NoError(t, err)

	td := ptrace.NewTraces()
	cli := stockResource(td, "frontend", appPID)
	srv := stockResource(td, "backend", 0)
	for i, x := range xs {
		c := cli.AppendEmpty()
		c.SetKind(ptrace.SpanKindClient)
		c.SetSpanID(pcommon.SpanID{1, byte(i), byte(i >> 8)})
		c.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(x.start)))
		c.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(x.end)))
		putAll(c.Attributes(), kv{"server.address": "backend.svc", "url.full": "http://backend.svc/api"})
		s := srv.AppendEmpty()
		s.SetKind(ptrace.SpanKindServer)
		s.SetSpanID(pcommon.SpanID{2, byte(i), byte(i >> 8)})
		// The server span: request read 1ms in, response handed to the
		// socket 2ms before the client's end (it does not wait for the
		// lost segment's resend).
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(x.start + time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(x.start + 12*time.Millisecond)))
		putAll(s.Attributes(), kv{"network.peer.address": cliIP, "network.peer.port": 41000 + x.conn, "server.address": "backend.svc"})
	}
	out, err := p.processTraces(context.Background(), td)
	require.NoError(t, err)

	var tp, fp, fn, peer, overlapping int
	clientSpans := out.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i, x := range xs {
		sp := clientSpans.At(i)
		if attr(sp, attrJoin) == "peer" {
			peer++
		}
		// What the overlap alone (no containment) would have charged.
		for _, y := range xs {
			if !x.lossy && y.lossy && y.conn != x.conn && x.start < y.start+10*time.Millisecond+rto && x.end > y.start+10*time.Millisecond {
				overlapping++
				break
			}
		}
		blamed := attr(sp, contract.AttrIsolationLayer) == contract.LayerNetwork
		switch {
		case blamed && x.lossy:
			tp++
		case blamed:
			fp++
			t.Logf("false blame: conn %d %v–%v: %v", x.conn, x.start, x.end, attr(sp, attrCause))
		case x.lossy:
			fn++
		}
	}
	precision := float64(tp) / float64(max(tp+fp, 1))
	recall := float64(tp) / float64(max(tp+fn, 1))
	t.Logf("client spans: %d, %d with 4 candidate connections (peer); lossy %d; blamed network: %d right, %d wrong; precision %.3f, recall %.3f; %d non-lossy spans overlapped another connection's loss wait",
		len(xs), peer, tp+fn, tp, fp, precision, recall, overlapping)
	assert.Equal(t, len(xs), peer, "every client span has the pool's candidates")
	assert.Positive(t, overlapping, "the set-up has concurrent exchanges on other connections during a loss")
	assert.GreaterOrEqual(t, precision, 0.95)
	assert.GreaterOrEqual(t, recall, 0.9)

	// Server spans are tied to their socket exactly and did not wait for
	// the resend (their response was handed to the socket before).
	serverSpans := out.ResourceSpans().At(1).ScopeSpans().At(0).Spans()
	for i := range xs {
		sp := serverSpans.At(i)
		assert.Equal(t, "5tuple", attr(sp, attrJoin))
		assert.NotEqual(t, contract.LayerNetwork, attr(sp, contract.AttrIsolationLayer), "server span %d: %v", i, attr(sp, attrCause))
	}
}

// TestPoolGrowingInsideABatchIsLookedUpPerSpan: the spans of one resource
// share their pool's candidate connections, looked up once for the batch,
// only when the pool did not change within the batch's window. Here a
// second pool connection opens between the batch's two spans: the first
// span had one candidate (5tuple), the second has two (peer) and the
// retransmit on the new one.
func TestPoolGrowingInsideABatchIsLookedUpPerSpan(t *testing.T) {
	evs := viaService(41000) // open since -10s
	evs = append(evs,
		established(-2*time.Second, contract.EstablishedConnect, cliIP, 41001, vipIP, 80, appPID),
		established(-2*time.Second, contract.EstablishedAccept, podIP, srvPort, cliIP, 41001, srvPID),
		lossOn(-790*time.Millisecond, 200*time.Millisecond, podIP, srvPort, cliIP, 41001, srvPID),
	)
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	_, err := p.processLogs(context.Background(), eventLogs(evs...))
	require.NoError(t, err)

	td := ptrace.NewTraces()
	spans := stockResource(td, "frontend", appPID)
	for i, start := range []time.Duration{-3 * time.Second, -time.Second} {
		sp := spans.AppendEmpty()
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(start)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(start + 220*time.Millisecond)))
		putAll(sp.Attributes(), kv{"server.address": "backend.svc", "url.full": "http://backend.svc/api"})
	}
	out, err := p.processTraces(context.Background(), td)
	require.NoError(t, err)
	got := allSpans(out)
	require.Len(t, got, 2)
	assert.Equal(t, "5tuple", attr(got[0], attrJoin), "before the second connection opened")
	assert.NotEqual(t, contract.LayerNetwork, attr(got[0], contract.AttrIsolationLayer))
	assert.Equal(t, "peer", attr(got[1], attrJoin), "both connections are candidates")
	assert.Equal(t, contract.LayerNetwork, attr(got[1], contract.AttrIsolationLayer), "%v", attr(got[1], attrCause))
}
