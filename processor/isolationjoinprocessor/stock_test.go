package isolationjoinprocessor

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadatatest"
)

// Spans here carry only what stock instrumentation emits (issue 12's
// table): no 5-tuple, usually no process.pid; the connection table built
// from kernel.tcp.established records ties them to their sockets.

const (
	podIP    = "198.18.65.5" // the server pod behind the Service VIP
	vipIP    = "198.18.96.10"
	appPID   = 5002 // the client process
	srvPID   = 5001 // the server process
	otlpPort = 4317
)

// established is a kernel.tcp.established record of one socket.
func established(at time.Duration, side, local string, lport int, peer string, pport int, owner int) kernelEvent {
	return kernelEvent{name: contract.EventTCPEstablished, at: at, attrs: kv{
		contract.AttrNetworkTransport: "tcp", contract.AttrNetworkLocalAddress: local, contract.AttrNetworkLocalPort: lport,
		contract.AttrNetworkPeerAddress: peer, contract.AttrNetworkPeerPort: pport,
		contract.AttrProcessPID: owner, contract.AttrTCPEstablishedSide: side,
	}}
}

// lossOn is a retransmit of the socket local→peer that waited wait.
func lossOn(at, wait time.Duration, local string, lport int, peer string, pport int, owner int) kernelEvent {
	return retransmit(at, local, lport, peer, pport, kv{
		contract.AttrProcessPID: owner, contract.AttrTCPRetransmitWaitNs: int64(wait), contract.AttrTCPRetransmitKind: contract.RetransmitTimeout,
	})
}

func throttled(at time.Duration, owner int, ms int64) kernelEvent {
	return kernelEvent{name: contract.EventCgroupThrottle, at: at, attrs: kv{
		contract.AttrProcessPID: owner, contract.AttrCgroupThrottledNs: ms * int64(time.Millisecond),
		contract.AttrCgroupThrottledPeriods: 2, contract.AttrIsolationLayer: contract.LayerL3,
	}}
}

// viaService is a client (appPID) connected at -10s through the Service
// VIP to the server pod (srvPID), both sockets on this node.
func viaService(cport int) []kernelEvent {
	return []kernelEvent{
		established(-10*time.Second, contract.EstablishedConnect, cliIP, cport, vipIP, 80, appPID),
		established(-10*time.Second, contract.EstablishedAccept, podIP, srvPort, cliIP, cport, srvPID),
	}
}

func joinOne(t *testing.T, ctx context.Context, events []kernelEvent, s testSpan) ptrace.Span {
	t.Helper()
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	_, err := p.processLogs(context.Background(), eventLogs(events...))
	require.NoError(t, err)
	td, err := p.processTraces(ctx, spanTraces(s))
	require.NoError(t, err)
	spans := allSpans(td)
	require.Len(t, spans, 1)
	return spans[0]
}

func TestStockServerSpanWithOnlyNetworkPeer(t *testing.T) {
	// Go otelhttp server span: network.peer.* (the socket's peer), the
	// Host header, no local address; SDK default resource (no pid).
	server := testSpan{kind: ptrace.SpanKindServer, dur: 300 * time.Millisecond, resource: kv{"service.name": "backend"}, attrs: kv{
		"network.peer.address": cliIP, "network.peer.port": 40001, "client.address": cliIP,
		"server.address": "backend.svc", "http.request.method": "GET", "url.path": "/api",
	}}
	t.Run("loss on its socket", func(t *testing.T) {
		// The response lost, resent 210ms later by the server's socket.
		evs := append(viaService(40001), lossOn(250*time.Millisecond, 210*time.Millisecond, podIP, srvPort, cliIP, 40001, srvPID))
		got := joinOne(t, context.Background(), evs, server)
		assert.Equal(t, "5tuple", attr(got, attrJoin))
		assert.Equal(t, contract.LayerNetwork, attr(got, contract.AttrIsolationLayer))
		assert.Equal(t, int64(1), attr(got, attrRetransmits))
	})
	t.Run("its process found by the socket", func(t *testing.T) {
		evs := append(viaService(40001), throttled(250*time.Millisecond, srvPID, 200))
		got := joinOne(t, context.Background(), evs, server)
		assert.Equal(t, "5tuple", attr(got, attrJoin))
		assert.Equal(t, contract.LayerL3, attr(got, contract.AttrIsolationLayer), "the server process's throttling: %v", attr(got, attrCause))
	})
	t.Run("nothing happened: app, not unmatched", func(t *testing.T) {
		got := joinOne(t, context.Background(), viaService(40001), server)
		assert.Equal(t, "5tuple", attr(got, attrJoin))
		assert.Equal(t, contract.LayerApp, attr(got, contract.AttrIsolationLayer))
	})
	t.Run("old conventions", func(t *testing.T) {
		old := testSpan{kind: ptrace.SpanKindServer, dur: 300 * time.Millisecond, attrs: kv{
			"net.peer.ip": cliIP, "net.peer.port": 40001, "net.host.name": "backend.svc", "net.host.port": srvPort,
		}}
		evs := append(viaService(40001), throttled(250*time.Millisecond, srvPID, 200))
		got := joinOne(t, context.Background(), evs, old)
		assert.Equal(t, "5tuple", attr(got, attrJoin))
		assert.Equal(t, contract.LayerL3, attr(got, contract.AttrIsolationLayer))
	})
}

func TestStockClientSpanWithOnlyNetworkPeer(t *testing.T) {
	// Node.js / Java agent client span: the socket's peer (here the
	// Service VIP), no local address; process.pid on the resource. The
	// loss is on the server's socket: only the connection table leads
	// there (through the DNAT, by the client endpoint).
	client := testSpan{kind: ptrace.SpanKindClient, dur: 300 * time.Millisecond, resource: kv{"process.pid": appPID}, attrs: kv{
		"network.peer.address": vipIP, "network.peer.port": 80, "server.address": "backend.svc", "server.port": 80,
	}}
	evs := append(viaService(40001), lossOn(250*time.Millisecond, 210*time.Millisecond, podIP, srvPort, cliIP, 40001, srvPID))
	got := joinOne(t, context.Background(), evs, client)
	assert.Equal(t, "5tuple", attr(got, attrJoin))
	assert.Equal(t, contract.LayerNetwork, attr(got, contract.AttrIsolationLayer), attr(got, attrCause))
	assert.Equal(t, int64(1), attr(got, attrRetransmits))
	assert.Contains(t, attr(got, attrCause), "210ms")
}

// grpcSender is the context the OTLP/gRPC receiver gives a batch sent from
// addr:port.
func grpcSender(addr string, port int) context.Context {
	return client.NewContext(context.Background(), client.Info{Addr: &net.TCPAddr{IP: net.ParseIP(addr), Port: port}})
}

func TestStockClientSpanWithOnlyAHostName(t *testing.T) {
	// Go otelhttp client span: server.address is the URL's host, no
	// server.port (the URL names the default one), no socket address; SDK
	// default resource. The batch came over OTLP/gRPC from the app's
	// socket 127.0.0.1:41000.
	span := testSpan{kind: ptrace.SpanKindClient, dur: 300 * time.Millisecond, resource: kv{"service.name": "frontend"}, attrs: kv{
		"server.address": "backend.svc", "url.full": "http://backend.svc/api", "http.request.method": "GET",
	}}
	evs := append(viaService(40001),
		established(-20*time.Second, contract.EstablishedConnect, "127.0.0.1", 41000, "127.0.0.1", otlpPort, appPID),
		established(-20*time.Second, contract.EstablishedAccept, "127.0.0.1", otlpPort, "127.0.0.1", 41000, os.Getpid()),
		lossOn(250*time.Millisecond, 210*time.Millisecond, podIP, srvPort, cliIP, 40001, srvPID))
	t.Run("over OTLP/gRPC", func(t *testing.T) {
		got := joinOne(t, grpcSender("127.0.0.1", 41000), evs, span)
		assert.Equal(t, "5tuple", attr(got, attrJoin), "the app's one connection to port 80")
		assert.Equal(t, contract.LayerNetwork, attr(got, contract.AttrIsolationLayer), attr(got, attrCause))
		assert.Equal(t, int64(1), attr(got, attrRetransmits))
	})
	t.Run("old conventions", func(t *testing.T) {
		old := span
		old.attrs = kv{"net.peer.name": "backend.svc", "net.peer.port": 80}
		got := joinOne(t, grpcSender("127.0.0.1", 41000), evs, old)
		assert.Equal(t, "5tuple", attr(got, attrJoin))
		assert.Equal(t, int64(1), attr(got, attrRetransmits))
	})
	t.Run("unknown sender", func(t *testing.T) {
		got := joinOne(t, grpcSender("127.0.0.1", 41999), evs, span)
		assert.Equal(t, "unmatched", attr(got, attrJoin))
	})
	t.Run("no client info (a processor before it dropped the context)", func(t *testing.T) {
		got := joinOne(t, context.Background(), evs, span)
		assert.Equal(t, "unmatched", attr(got, attrJoin))
	})
}

func TestStockPooledConnectionFromTheSnapshot(t *testing.T) {
	// The keep-alive connection predates the receiver: its snapshot
	// reports it as existing, stamped at the snapshot.
	span := testSpan{kind: ptrace.SpanKindClient, dur: 300 * time.Millisecond, resource: kv{"process.pid": appPID}, attrs: kv{
		"server.address": "backend.svc", "url.full": "http://backend.svc/api",
	}}
	evs := []kernelEvent{
		established(-time.Second, contract.EstablishedExisting, cliIP, 40001, vipIP, 80, appPID),
		established(-time.Second, contract.EstablishedExisting, podIP, srvPort, cliIP, 40001, srvPID),
		lossOn(250*time.Millisecond, 210*time.Millisecond, podIP, srvPort, cliIP, 40001, srvPID),
	}
	got := joinOne(t, context.Background(), evs, span)
	assert.Equal(t, "5tuple", attr(got, attrJoin))
	assert.Equal(t, int64(1), attr(got, attrRetransmits))
	assert.Equal(t, contract.LayerNetwork, attr(got, contract.AttrIsolationLayer))
}

func TestStockOTLPHTTPSender(t *testing.T) {
	// confighttp keeps only the sender's IP: the collector's accepted
	// sockets from it lead to the sender's socket and its owner.
	const sender = "198.18.66.7"
	httpCtx := client.NewContext(context.Background(), client.Info{Addr: &net.IPAddr{IP: net.ParseIP(sender)}})
	span := testSpan{kind: ptrace.SpanKindInternal, dur: 300 * time.Millisecond, resource: kv{"service.name": "worker"}}
	evs := []kernelEvent{
		established(-5*time.Second, contract.EstablishedConnect, sender, 50000, "198.18.66.1", 4318, appPID),
		established(-5*time.Second, contract.EstablishedAccept, "198.18.66.1", 4318, sender, 50000, os.Getpid()),
		throttled(250*time.Millisecond, appPID, 200),
	}
	t.Run("one owner", func(t *testing.T) {
		got := joinOne(t, httpCtx, evs, span)
		assert.Equal(t, "process", attr(got, attrJoin))
		assert.Equal(t, contract.LayerL3, attr(got, contract.AttrIsolationLayer))
	})
	t.Run("two processes behind one address: no identity", func(t *testing.T) {
		shared := append(evs,
			established(-5*time.Second, contract.EstablishedConnect, sender, 50001, "198.18.66.1", 4318, appPID+1),
			established(-5*time.Second, contract.EstablishedAccept, "198.18.66.1", 4318, sender, 50001, os.Getpid()))
		got := joinOne(t, httpCtx, shared, span)
		assert.Equal(t, "unmatched", attr(got, attrJoin))
	})
}

func TestStockClosedConnectionLeavesTheTable(t *testing.T) {
	span := testSpan{kind: ptrace.SpanKindClient, dur: 300 * time.Millisecond, start: 2 * time.Second, resource: kv{"process.pid": appPID}, attrs: kv{
		"server.address": "backend.svc", "url.full": "http://backend.svc/api",
	}}
	closed := kernelEvent{name: contract.EventTCPConnection, at: time.Second, attrs: kv{
		contract.AttrNetworkLocalAddress: cliIP, contract.AttrNetworkLocalPort: 40001,
		contract.AttrNetworkPeerAddress: vipIP, contract.AttrNetworkPeerPort: 80,
		contract.AttrProcessPID: appPID, contract.AttrTCPDurationMs: 11000,
	}}
	evs := append(viaService(40001), closed, throttled(2200*time.Millisecond, appPID, 1))
	got := joinOne(t, context.Background(), evs, span)
	assert.Equal(t, "process", attr(got, attrJoin), "the connection closed before the span")
}

func TestConnectionTableTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := createDefaultConfig()
	cfg.MaxConnections = 2
	p, err := newJoinProcessor(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	p.now = (&fakeClock{t: t0}).Now
	_, err = p.processLogs(context.Background(), eventLogs(
		established(0, contract.EstablishedConnect, cliIP, 41000, vipIP, 80, appPID),
		established(time.Millisecond, contract.EstablishedConnect, cliIP, 41001, vipIP, 80, appPID),
		established(2*time.Millisecond, contract.EstablishedConnect, cliIP, 41002, vipIP, 80, appPID),
	))
	require.NoError(t, err)
	metadatatest.AssertEqualProcessorIsolationJoinConnectionsEvicted(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorIsolationJoinConnections(t, tt, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	// Establishments feed the table only: nothing indexed.
	assert.Zero(t, p.idx.Len())

	// A server span identified by its socket is counted.
	_, err = p.processLogs(context.Background(), eventLogs(established(3*time.Millisecond, contract.EstablishedAccept, podIP, srvPort, cliIP, 41002, srvPID)))
	require.NoError(t, err)
	_, err = p.processTraces(context.Background(), spanTraces(testSpan{kind: ptrace.SpanKindServer, start: 10 * time.Millisecond, attrs: kv{"network.peer.address": cliIP, "network.peer.port": 41002}}))
	require.NoError(t, err)
	metadatatest.AssertEqualProcessorIsolationJoinSpansIdentified(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("identity", identityServerPeer))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestStockDropBehindTheServiceInTheClientsNamespace: the client (host
// name only, OTLP/gRPC sender) reaches the pod through the Service VIP;
// its request is dropped by netfilter in its own namespace after the DNAT,
// so the drop names the pod's real address (cliIP:40001 → podIP:srvPort),
// not the VIP its socket sees. The server socket's key, reversed, reaches
// it: the retransmit it caused is the drop's (L3), not the network's.
func TestStockDropBehindTheServiceInTheClientsNamespace(t *testing.T) {
	span := testSpan{kind: ptrace.SpanKindClient, dur: 300 * time.Millisecond, resource: kv{"service.name": "frontend"}, attrs: kv{
		"server.address": "backend.svc", "url.full": "http://backend.svc/api", "http.request.method": "GET",
	}}
	evs := append(viaService(40001),
		established(-20*time.Second, contract.EstablishedConnect, "127.0.0.1", 41000, "127.0.0.1", otlpPort, appPID),
		established(-20*time.Second, contract.EstablishedAccept, "127.0.0.1", otlpPort, "127.0.0.1", 41000, os.Getpid()),
		lossOn(250*time.Millisecond, 210*time.Millisecond, cliIP, 40001, vipIP, 80, appPID),
		kernelEvent{name: contract.EventSKBDrop, at: 40 * time.Millisecond, attrs: kv{
			contract.AttrNetworkLocalAddress: cliIP, contract.AttrNetworkLocalPort: 40001,
			contract.AttrNetworkPeerAddress: podIP, contract.AttrNetworkPeerPort: srvPort,
			contract.AttrSKBDropReason: "NETFILTER_DROP",
		}})
	got := joinOne(t, grpcSender("127.0.0.1", 41000), evs, span)
	assert.Equal(t, contract.LayerL3, attr(got, contract.AttrIsolationLayer), attr(got, attrCause))
	assert.Equal(t, int64(1), attr(got, attrSKBDrops))
	assert.Contains(t, attr(got, attrCause), "NETFILTER_DROP")
}
