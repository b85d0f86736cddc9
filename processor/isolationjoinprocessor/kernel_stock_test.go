package isolationjoinprocessor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"
)

// exchange is one HTTP request as each side's stock instrumentation saw it.
type exchange struct {
	cliStart, cliEnd time.Time
	srvStart, srvEnd time.Time
	remote           string // the server's r.RemoteAddr (otelhttp's network.peer.*)
}

// TestKernelStockSpansThroughServiceVIP runs the real receiver into the
// processor while a Go HTTP client with the default pooled transport calls
// a server by a host name that resolves to a virtual address, DNAT'ed to
// the server in another namespace (what kube-proxy does for a Service),
// with loss on the responses. The spans carry only what stock
// instrumentation writes: the client span a host name and url.full (Go
// otelhttp) or the socket's peer, the VIP (Node.js, the Java agent); the
// server span the socket's peer; the server's resource has no process.pid. The client span
// must get the server socket's retransmits, found through the connection
// table across the DNAT.
func TestKernelStockSpansThroughServiceVIP(t *testing.T) {
	testenv.RequireRoot(t, "ip", "nft")
	t.Run("pool opened while the receiver runs", func(t *testing.T) { stockThroughVIP(t, false) })
	// The keep-alive connection predates the receiver: only its start-up
	// snapshot (kernel.tcp.established.side=existing) names the sockets' owners.
	t.Run("pool opened before the receiver started", func(t *testing.T) { stockThroughVIP(t, true) })
}

func stockThroughVIP(t *testing.T, poolFirst bool) {
	const (
		vip      = "198.18.97.10"
		srvAddr  = "198.18.67.2"
		srvPort  = 18467
		host     = "backend.test"
		requests = 12
		body     = 256 << 10
	)
	cli := testenv.NewNetns(t, "chx-k12-cli")
	srv := testenv.NewNetns(t, "chx-k12-srv")
	testenv.NewVethPair(t, cli, srv, "chx-k12a", "chx-k12b", "198.18.67.1/30", srvAddr+"/30")
	cli.Exec(t, "ip", "route", "add", "default", "dev", "chx-k12a")
	nft(t, cli, "chx_vip", fmt.Sprintf(`table ip chx_vip {
	chain out {
		type nat hook output priority -100; policy accept;
		ip daddr %s tcp dport 80 dnat to %s:%d
	}
	chain in {
		type filter hook input priority 0; policy accept;
		ip saddr %s tcp flags & syn == 0 numgen random mod 100 < 15 drop
	}
}`, vip, srvAddr, srvPort, srvAddr))

	tp, lp, sink := startJoin(t)
	if !poolFirst {
		startReceiver(t, lp, "tcp_retransmit", "tcp_connection")
	}

	// The server, in its namespace.
	var ln net.Listener
	require.NoError(t, srv.Do(func() (err error) { ln, err = net.Listen("tcp", fmt.Sprintf("%s:%d", srvAddr, srvPort)); return err }))
	var mu sync.Mutex
	served := map[string]exchange{}
	payload := bytes.Repeat([]byte("x"), body)
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, _ = w.Write(payload)
		mu.Lock()
		served[r.Header.Get("X-Req")] = exchange{srvStart: start, srvEnd: time.Now(), remote: r.RemoteAddr}
		mu.Unlock()
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })

	// The client: the default transport's pool; the host name resolves to
	// the VIP (an /etc/hosts entry), the dial happens in its namespace.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == host+":80" {
			addr = vip + ":80"
		}
		var c net.Conn
		err := cli.Do(func() (err error) { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return err })
		return c, err
	}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	// The pool's connection, opened by a first request.
	resp, err := hc.Get("http://" + host + "/data")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	if poolFirst {
		startReceiver(t, lp, "tcp_retransmit", "tcp_connection")
	}
	var done []exchange
	for i := range requests {
		req, err := http.NewRequest(http.MethodGet, "http://"+host+"/data", nil)
		require.NoError(t, err)
		req.Header.Set("X-Req", fmt.Sprint(i))
		start := time.Now()
		resp, err := hc.Do(req)
		require.NoError(t, err)
		n, err := io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, int64(body), n)
		end := time.Now()
		mu.Lock()
		x := served[fmt.Sprint(i)]
		mu.Unlock()
		x.cliStart, x.cliEnd = start, end
		done = append(done, x)
	}

	// The spans, as otelhttp and the SDK's default resource write them
	// (the client's resource with the pid Node.js and the Java agent add).
	clientTD, serverTD := ptrace.NewTraces(), ptrace.NewTraces()
	clientSpans := stockResource(clientTD, "frontend", os.Getpid())
	serverSpans := stockResource(serverTD, "backend", 0)
	remotes := map[string]bool{}
	for i, x := range done {
		c := clientSpans.AppendEmpty()
		c.SetName("GET")
		c.SetKind(ptrace.SpanKindClient)
		c.SetTraceID(pcommon.TraceID{0x12, byte(i)})
		c.SetSpanID(pcommon.SpanID{0x12, byte(i), 1})
		c.SetStartTimestamp(pcommon.NewTimestampFromTime(x.cliStart))
		c.SetEndTimestamp(pcommon.NewTimestampFromTime(x.cliEnd))
		if i%2 == 0 {
			// Go otelhttp: the URL's host name, no port (the default).
			putAll(c.Attributes(), kv{"http.request.method": "GET", "server.address": host, "url.full": "http://" + host + "/data", "http.response.status_code": 200})
		} else {
			// Node.js / Java agent: the socket's peer, here the VIP.
			putAll(c.Attributes(), kv{"http.request.method": "GET", "server.address": host, "server.port": 80,
				"network.peer.address": vip, "network.peer.port": 80, "http.response.status_code": 200})
		}

		s := serverSpans.AppendEmpty()
		s.SetName("GET /data")
		s.SetKind(ptrace.SpanKindServer)
		s.SetTraceID(pcommon.TraceID{0x12, byte(i)})
		s.SetSpanID(pcommon.SpanID{0x12, byte(i), 2})
		s.SetParentSpanID(c.SpanID())
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(x.srvStart))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(x.srvEnd))
		peerAddr, peerPort, err := net.SplitHostPort(x.remote)
		require.NoError(t, err)
		remotes[x.remote] = true
		putAll(s.Attributes(), kv{"http.request.method": "GET", "server.address": host, "url.path": "/data",
			"network.peer.address": peerAddr, "network.peer.port": atoi(t, peerPort), "client.address": peerAddr})
	}
	require.NoError(t, tp.ConsumeTraces(context.Background(), serverTD))
	require.NoError(t, tp.ConsumeTraces(context.Background(), clientTD))
	require.Eventually(t, func() bool { return sink.SpanCount() == 2*requests }, 30*time.Second, 10*time.Millisecond)

	var retransmitSpans, networkSpans int
	for _, sp := range sinkSpans(sink) {
		q := attr(sp, attrJoin)
		assert.Equal(t, "5tuple", q, "%s span: the pooled connection is known exactly (%d connections used)", sp.Kind(), len(remotes))
		if sp.Kind() != ptrace.SpanKindClient {
			continue
		}
		if n, _ := attr(sp, attrRetransmits).(int64); n > 0 {
			retransmitSpans++
		}
		if attr(sp, contract.AttrIsolationLayer) == contract.LayerNetwork {
			networkSpans++
			assert.Contains(t, attr(sp, attrCause), "tcp retransmit")
		}
		t.Logf("client span %v: %v %v — %v", sp.EndTimestamp().AsTime().Sub(sp.StartTimestamp().AsTime()).Round(time.Millisecond), q, attr(sp, contract.AttrIsolationLayer), attr(sp, attrCause))
	}
	assert.Positive(t, retransmitSpans, "client spans carrying the server socket's retransmits")
	assert.Positive(t, networkSpans, "client spans blamed on the network")
}

func atoi(t *testing.T, s string) int {
	var n int
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

// stockResource adds a resource as the Go SDK's default one (plus a pid
// when pid > 0) and returns its span slice.
func stockResource(td ptrace.Traces, service string, pid int) ptrace.SpanSlice {
	rs := td.ResourceSpans().AppendEmpty()
	a := rs.Resource().Attributes()
	a.PutStr("service.name", service)
	a.PutStr("telemetry.sdk.language", "go")
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	if pid > 0 {
		a.PutInt("process.pid", int64(pid))
	}
	return rs.ScopeSpans().AppendEmpty().Spans()
}

// nft loads rules into ns; the table is deleted at cleanup.
func nft(t *testing.T, ns *testenv.Netns, table, rules string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s", ns.Name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "exec", ns.Name, "nft", "delete", "table", "ip", table).Run() })
}

// startJoin creates one processor shared by a logs and a traces pipeline,
// started; held spans go to the returned sink.
func startJoin(t *testing.T) (processor.Traces, processor.Logs, *consumertest.TracesSink) {
	t.Helper()
	// Held until the records covering a span arrived, or 5s: a loaded
	// machine can delay the receiver's records by more than a second.
	return startJoinWith(t, processortest.NewNopSettings(metadata.Type), 5*time.Second)
}

// startJoinWith is startJoin with the processor's settings (telemetry).
// startJoinWith is startJoin with the telemetry settings and max_delay given.
func startJoinWith(t *testing.T, set processor.Settings, maxDelay time.Duration) (processor.Traces, processor.Logs, *consumertest.TracesSink) {
	t.Helper()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.MaxDelay = maxDelay
	sink := new(consumertest.TracesSink)
	tp, err := f.CreateTraces(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	lp, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, lp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = lp.Shutdown(context.Background())
	})
	return tp, lp, sink
}

// startReceiver runs the real ebpf receiver with probes into lp.
func startReceiver(t *testing.T, lp processor.Logs, probes ...string) {
	t.Helper()
	rf := ebpfreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig().(*ebpfreceiver.Config)
	rcfg.Probes = probes
	rcfg.FlushInterval = 20 * time.Millisecond
	recv, err := rf.CreateLogs(context.Background(), receivertest.NewNopSettings(rf.Type()), rcfg, lp)
	require.NoError(t, err)
	if err := recv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		testenv.SkipOrFail(t, "ebpf receiver: %v", err)
	}
	t.Cleanup(func() { _ = recv.Shutdown(context.Background()) })
}
