package isolationjoinprocessor

import (
	"compress/gzip"
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/join"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/spankey"
)

const (
	benchHost      = "node-a" // not this machine: no /proc lookups, as at a gateway
	eventsPerConn  = 10
	benchBatchSize = 100
)

// benchConn is connection i of the benchmark: a distinct client port and
// server per connection, so each key holds eventsPerConn events whatever
// the index size (the work per span should not grow with the index).
func benchConn(i int) (local, peer netip.AddrPort) {
	local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 64, 1}), uint16(1024+i%60000))
	peer = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 16), byte(i >> 8)}), uint16(1+i%256))
	return local, peer
}

// fillIndex indexes n kernel events spread over the retention (30s before
// t0+1s): retransmits of n/eventsPerConn connections and, one in ten, a cgroup
// throttle of the connection's process.
func fillIndex(b *testing.B, p *joinProcessor, n int) {
	b.Helper()
	conns := max(n/eventsPerConn, 1)
	const perBatch = 1000
	for done := 0; done < n; {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("host.name", benchHost)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for k := 0; k < perBatch && done < n; k, done = k+1, done+1 {
			c := done % conns
			local, peer := benchConn(c)
			lr := lrs.AppendEmpty()
			// Time runs forward with done: each connection's events are
			// spaced ~30s/eventsPerConn apart.
			at := t0.Add(-29 * time.Second).Add(time.Duration(int64(30*time.Second) * int64(done) / int64(n)))
			lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
			a := lr.Attributes()
			if done%10 == 9 {
				lr.SetEventName(contract.EventCgroupThrottle)
				a.PutInt(contract.AttrProcessPID, benchPID(c))
				a.PutInt(contract.AttrCgroupThrottledNs, int64(20*time.Millisecond))
				a.PutStr(contract.AttrIsolationLayer, contract.LayerL3)
				continue
			}
			lr.SetEventName(contract.EventTCPRetransmit)
			a.PutStr(contract.AttrNetworkTransport, "tcp")
			a.PutStr(contract.AttrNetworkLocalAddress, local.Addr().String())
			a.PutInt(contract.AttrNetworkLocalPort, int64(local.Port()))
			a.PutStr(contract.AttrNetworkPeerAddress, peer.Addr().String())
			a.PutInt(contract.AttrNetworkPeerPort, int64(peer.Port()))
			a.PutInt(contract.AttrProcessPID, benchPID(c))
			a.PutStr(contract.AttrIsolationLayer, contract.LayerNetwork)
		}
		_, err := p.processLogs(context.Background(), ld)
		require.NoError(b, err)
	}
	require.Equal(b, n, p.idx.Len())
}

// benchTraces is one batch of client spans over connections of the index,
// each span covering 3s (about one event of its connection).
func benchTraces(conns, seed int) ptrace.Traces {
	td := ptrace.NewTraces()
	for i := range benchBatchSize {
		c := (seed*benchBatchSize + i*7919) % conns
		local, peer := benchConn(c)
		rs := td.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		ra.PutStr("host.name", benchHost)
		ra.PutInt("process.pid", benchPID(c))
		ra.PutStr("service.name", "checkout")
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName("GET /cart")
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetTraceID(pcommon.TraceID{byte(i), byte(seed)})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		end := t0.Add(-time.Duration(i%25) * time.Second)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-3 * time.Second)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		a := sp.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("server.address", "cart.internal")
		a.PutInt("server.port", int64(peer.Port()))
		a.PutStr("network.peer.address", peer.Addr().String())
		a.PutInt("network.peer.port", int64(peer.Port()))
		a.PutStr("network.local.address", local.Addr().String())
		a.PutInt("network.local.port", int64(local.Port()))
	}
	return td
}

// exporterSink stands for the exporter of a real pipeline: it encodes each
// batch to OTLP protobuf and, when gzip is set, compresses it as the otlp
// exporter does by default.
type exporterSink struct {
	m     ptrace.ProtoMarshaler
	gzip  *gzip.Writer
	bytes int
}

func (e *exporterSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
func (e *exporterSink) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	buf, err := e.m.MarshalTraces(td)
	if err != nil || e.gzip == nil {
		e.bytes += len(buf)
		return err
	}
	var out countingWriter
	e.gzip.Reset(&out)
	if _, err := e.gzip.Write(buf); err != nil {
		return err
	}
	err = e.gzip.Close()
	e.bytes += int(out)
	return err
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

func newBenchJoin(b *testing.B, events int, sink *exporterSink) (*joinProcessor, processor.Traces, *exporterSink) {
	b.Helper()
	cfg := createDefaultConfig()
	cfg.MaxEvents = max(events, 1)
	// The benchmark measures lookups in an index of exactly `events` events:
	// the byte cap (128 MiB by default, ~540k bench events) must not evict.
	cfg.MaxEventsBytes = max(cfg.MaxEventsBytes, int64(events)*1024)
	p, err := newJoinProcessor(processortest.NewNopSettings(metadata.Type), cfg)
	require.NoError(b, err)
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	p.holding = true // as started, without a release loop: every batch is covered by the watermark
	p.setNextTraces(sink)
	fillIndex(b, p, events)
	tp, err := processorhelper.NewTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink, p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	require.NoError(b, err)
	return p, tp, sink
}

func newBenchNop(b *testing.B, sink *exporterSink) processor.Traces {
	b.Helper()
	tp, err := processorhelper.NewTraces(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink,
		func(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) { return td, nil })
	require.NoError(b, err)
	return tp
}

// inputs pre-builds copies of the batches: the processor mutates what it
// is given, and building spans is the receiver's cost, not the pipeline's.
func inputs(conns, n int) []ptrace.Traces {
	out := make([]ptrace.Traces, n)
	for i := range out {
		out[i] = benchTraces(conns, i)
	}
	return out
}

// BenchmarkJoinVsNop runs the same batches through a pipeline with the
// join (100k events indexed) and one with a no-op processor, alternating
// in one run, and reports spans/s of each and their ratio (target ≥ 0.8).
// The pipeline is what an OTLP-in, OTLP-out collector does per request:
// decode the OTLP protobuf (receiver), process, encode to protobuf
// (exporter) — and, in the "gzip" variant, compress it as the otlp
// exporter does by default. Network and batching are left out, which only
// favours the no-op side.
func BenchmarkJoinVsNop(b *testing.B) {
	for _, compress := range []bool{false, true} {
		name := "encode=proto"
		if compress {
			name = "encode=proto+gzip"
		}
		b.Run(name, func(b *testing.B) { benchJoinVsNop(b, compress, benchTraces) })
	}
}

// BenchmarkJoinVsNopSDKBatch is BenchmarkJoinVsNop with requests shaped
// like an SDK's export (and like bench/collector's load): one resource
// with all 100 spans of the batch, 20 attributes per span, network
// attributes on every span. The spans are over indexed connections of
// processes on another node (as at a gateway), so the join does its full
// work: 5-tuple match, verdict, span event.
func BenchmarkJoinVsNopSDKBatch(b *testing.B) {
	b.Run("encode=proto", func(b *testing.B) { benchJoinVsNop(b, false, sdkTraces) })
	// Spans as stock instrumentation emits them: no socket address, the
	// peer named by a host name and url.full (port from the scheme), the
	// process on the resource: every span goes through the connection
	// table (10k connections, learned from the indexed records' owners)
	// to its candidate connections and their events.
	b.Run("encode=proto/spans=stock", func(b *testing.B) { benchJoinVsNop(b, false, stockTraces) })
}

// BenchmarkFloorVsNopSDKBatch is BenchmarkJoinVsNopSDKBatch's floor: the
// same batches through processors that look nothing up. "writes" only
// writes what the join writes on every span of an app verdict
// (isolation.join, isolation.layer, isolation.cause, one growth of the
// attributes); "keys+writes" first reads the span's keys as the join does
// (spankey.FromSpan). Both keep the join's index in the heap. No join
// with this output can score above the second: the distance from it to
// the join's ratio is what the lookups and the verdict cost
// (docs/performance.md §2).
func BenchmarkFloorVsNopSDKBatch(b *testing.B) {
	for _, shape := range []struct {
		name  string
		build func(conns, seed int) ptrace.Traces
	}{{"encode=proto", sdkTraces}, {"encode=proto/spans=stock", stockTraces}} {
		b.Run(shape.name+"/floor=writes", func(b *testing.B) { benchFloorVsNop(b, false, shape.build) })
		b.Run(shape.name+"/floor=keys+writes", func(b *testing.B) { benchFloorVsNop(b, true, shape.build) })
	}
}

func benchFloorVsNop(b *testing.B, readKeys bool, build func(conns, seed int) ptrace.Traces) {
	var keys spankey.Keys
	// The join's 100k indexed events, unused here, in the heap as in
	// BenchmarkJoinVsNopSDKBatch: the garbage collector marks them on
	// both sides of either benchmark's ratio.
	idx, _, _ := newBenchJoin(b, 100_000, &exporterSink{})
	defer runtime.KeepAlive(idx)
	floor := func(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if readKeys {
						keys = spankey.FromSpan(spankey.Keys{Host: benchHost}, sp)
					}
					a := sp.Attributes()
					a.EnsureCapacity(a.Len() + 3)
					a.PutStr(attrJoin, join.QualityProcess)
					a.PutStr(contract.AttrIsolationLayer, contract.LayerApp)
					a.PutStr(attrCause, "no kernel evidence in the span's window")
				}
			}
		}
		return td, nil
	}
	tp, err := processorhelper.NewTraces(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), &exporterSink{}, floor,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	require.NoError(b, err)
	vsNop(b, tp, &exporterSink{}, build)
	if readKeys {
		require.NotZero(b, keys.PeerPort, "the floor reads real keys")
	}
}

// stockTraces is sdkTraces with the network attributes Go otelhttp (plus
// a process.pid on the resource, as Node.js and the Java agent add) puts
// on client spans.
func stockTraces(conns, seed int) ptrace.Traces {
	td := sdkTraces(conns, seed)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		a := spans.At(i).Attributes()
		port, _ := a.Get("network.peer.port")
		for _, k := range []string{"network.peer.address", "network.peer.port", "network.local.address", "network.local.port"} {
			a.Remove(k)
		}
		a.PutInt("server.port", port.Int())
	}
	return td
}

// sdkTraces is one SDK-shaped batch: one resource (one process) with
// benchBatchSize client spans of 20 attributes over the process's
// connections and others.
func sdkTraces(conns, seed int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	c0 := (seed * 7919) % conns
	ra.PutStr("host.name", benchHost)
	ra.PutInt("process.pid", benchPID(c0))
	ra.PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range benchBatchSize {
		c := (seed*benchBatchSize + i*7919) % conns
		if i%2 == 0 {
			c = c0 // half over the process's own connection
		}
		local, peer := benchConn(c)
		sp := spans.AppendEmpty()
		sp.SetName("GET /cart")
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetTraceID(pcommon.TraceID{byte(i), byte(seed)})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		end := t0.Add(-time.Duration(i%25) * time.Second)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-3 * time.Second)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		a := sp.Attributes()
		a.PutStr("network.peer.address", peer.Addr().String())
		a.PutInt("network.peer.port", int64(peer.Port()))
		a.PutStr("network.local.address", local.Addr().String())
		a.PutInt("network.local.port", int64(local.Port()))
		a.PutStr("network.transport", "tcp")
		a.PutStr("network.type", "ipv4")
		a.PutStr("server.address", "cart.internal")
		a.PutInt("server.port", int64(peer.Port()))
		a.PutStr("http.request.method", "GET")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("url.full", "http://cart.internal/cart")
		a.PutStr("url.scheme", "http")
		a.PutStr("user_agent.original", "loadgen/1.0")
		a.PutStr("network.protocol.version", "1.1")
		for k := range 6 {
			a.PutStr(fmt.Sprintf("app.attr%d", k), "value-of-some-length")
		}
	}
	return td
}

func benchJoinVsNop(b *testing.B, compress bool, build func(conns, seed int) ptrace.Traces) {
	const events = 100_000
	joinSink, nopSink := &exporterSink{}, &exporterSink{}
	if compress {
		joinSink.gzip, nopSink.gzip = gzip.NewWriter(nil), gzip.NewWriter(nil)
	}
	p, join, _ := newBenchJoin(b, events, joinSink)
	vsNop(b, join, nopSink, build)
	require.Zero(b, p.pendingSpans)
}

// vsNop runs the batches of build (over the connections of the bench
// index, 100k events) through join and through a no-op pipeline exporting
// to nopSink, alternating, and reports spans/s of each and their ratio.
func vsNop(b *testing.B, join processor.Traces, nopSink *exporterSink, build func(conns, seed int) ptrace.Traces) {
	const events = 100_000
	nop := newBenchNop(b, nopSink)
	conns := events / eventsPerConn
	const pool = 64
	var wire [][]byte
	var m ptrace.ProtoMarshaler
	for i := range pool {
		buf, err := m.MarshalTraces(build(conns, i))
		require.NoError(b, err)
		wire = append(wire, buf)
	}
	var u ptrace.ProtoUnmarshaler
	run := func(tp processor.Traces, buf []byte) time.Duration {
		start := time.Now()
		td, err := u.UnmarshalTraces(buf)
		if err == nil {
			err = tp.ConsumeTraces(context.Background(), td)
		}
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var joinTime, nopTime time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nopTime += run(nop, wire[i%pool])
		joinTime += run(join, wire[i%pool])
	}
	b.StopTimer()
	spans := float64(b.N * benchBatchSize)
	b.ReportMetric(spans/joinTime.Seconds(), "join-spans/s")
	b.ReportMetric(spans/nopTime.Seconds(), "nop-spans/s")
	b.ReportMetric(nopTime.Seconds()/joinTime.Seconds(), "ratio")
}

// BenchmarkJoin measures the cost per span as the index grows: it should
// stay flat (no scan of the whole index), and reports allocations per span.
func BenchmarkJoin(b *testing.B) {
	for _, events := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			p, join, _ := newBenchJoin(b, events, &exporterSink{})
			conns := events / eventsPerConn
			const pool = 64
			in := inputs(conns, pool)
			joined := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%pool == 0 && i > 0 {
					b.StopTimer()
					in = inputs(conns, pool)
					b.StartTimer()
				}
				_ = join.ConsumeTraces(context.Background(), in[i%pool])
			}
			b.StopTimer()
			for _, s := range allSpans(in[(b.N-1)%pool]) {
				if v, _ := s.Attributes().Get(attrJoin); v.Str() == "5tuple" {
					joined++
				}
			}
			require.Positive(b, joined, "the benchmark joins real evidence")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatchSize), "ns/span")
			_ = p
		})
	}
}

// BenchmarkIndexMemory reports the heap the index holds at the default
// max_events cap (run with -benchtime 1x).
func BenchmarkIndexMemory(b *testing.B) {
	events := createDefaultConfig().MaxEvents
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		p, _, _ := newBenchJoin(b, events, &exporterSink{})
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/float64(events), "heap-B/event")
		b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/(1<<20), "heap-MiB@max_events")
		runtime.KeepAlive(p)
	}
}

// benchPID gives every process two connections, whatever the index size,
// so the events per process key stay constant too.
func benchPID(c int) int64 { return int64(1000 + c/2) }

// BenchmarkIngest measures the logs side: kernel events indexed per second
// into a full index (every event also evicts one), batches of 1000 records.
func BenchmarkIngest(b *testing.B) {
	const events = 100_000
	p, _, _ := newBenchJoin(b, events, &exporterSink{})
	batches := make([]plog.Logs, 16)
	for i := range batches {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("host.name", benchHost)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for k := range 1000 {
			local, peer := benchConn(i*1000 + k)
			lr := lrs.AppendEmpty()
			lr.SetEventName(contract.EventTCPRetransmit)
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i*1000+k) * time.Microsecond)))
			a := lr.Attributes()
			a.PutStr(contract.AttrNetworkTransport, "tcp")
			a.PutStr(contract.AttrNetworkLocalAddress, local.Addr().String())
			a.PutInt(contract.AttrNetworkLocalPort, int64(local.Port()))
			a.PutStr(contract.AttrNetworkPeerAddress, peer.Addr().String())
			a.PutInt(contract.AttrNetworkPeerPort, int64(peer.Port()))
			a.PutInt(contract.AttrProcessPID, benchPID(i*1000+k))
			a.PutStr(contract.AttrIsolationLayer, contract.LayerNetwork)
		}
		batches[i] = ld
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.processLogs(context.Background(), batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
}

// BenchmarkJoinPooledClient is the join of bench/collector's load, per
// span: one client process sending over a keep-alive pool of four
// connections to a Service VIP, each accepted by the server pod on the
// same node (the connection table finds every candidate's other end), in
// an index of 100k events. The spans are stock Go otelhttp client spans
// (server.address a host name, the port from url.full's scheme), with the
// resource's process.pid (Node.js and the Java agent add it); the
// windows of four in twenty-five hold a retransmit on the pool.
func BenchmarkJoinPooledClient(b *testing.B) {
	const (
		clientPID, serverPID = 7001, 7002
		pool                 = 4
		batches              = 64
	)
	p, join, _ := newBenchJoin(b, 100_000, &exporterSink{})
	var records []kernelEvent
	for i := range pool {
		port := 40000 + i
		for _, e := range []kernelEvent{
			established(-30*time.Second, contract.EstablishedConnect, "198.18.70.1", port, vipIP, 80, clientPID),
			established(-30*time.Second, contract.EstablishedAccept, podIP, 8080, "198.18.70.1", port, serverPID),
		} {
			e.host = benchHost
			records = append(records, e)
		}
	}
	loss := lossOn(-12*time.Second, 2*time.Second, "198.18.70.1", 40001, vipIP, 80, clientPID)
	loss.host = benchHost
	records = append(records, loss)
	_, err := p.processLogs(context.Background(), eventLogs(records...))
	require.NoError(b, err)
	// The records are stamped at the fixed t0, months before the clock
	// that measured their accept lag: on a node they arrive within
	// milliseconds, and the spans are not held for it.
	p.acceptLag = 0

	build := func(seed int) ptrace.Traces {
		td := sdkTraces(1, seed)
		rs := td.ResourceSpans().At(0)
		rs.Resource().Attributes().PutInt("process.pid", clientPID)
		spans := rs.ScopeSpans().At(0).Spans()
		for i := 0; i < spans.Len(); i++ {
			a := spans.At(i).Attributes()
			for _, k := range []string{"network.peer.address", "network.peer.port", "network.local.address", "network.local.port", "server.port"} {
				a.Remove(k)
			}
			a.PutStr("server.address", "payment")
			a.PutStr("url.full", "http://payment/checkout")
		}
		return td
	}
	in := make([]ptrace.Traces, batches)
	refill := func() {
		for i := range in {
			in[i] = build(i)
		}
	}
	refill()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%batches == 0 && i > 0 {
			b.StopTimer()
			refill()
			b.StartTimer()
		}
		require.NoError(b, join.ConsumeTraces(context.Background(), in[i%batches]))
	}
	b.StopTimer()
	var peer, blamed int
	for _, s := range allSpans(in[(b.N-1)%batches]) {
		if v, _ := s.Attributes().Get(attrJoin); v.Str() == "peer" {
			peer++
		}
		if v, _ := s.Attributes().Get(contract.AttrIsolationLayer); v.Str() == contract.LayerNetwork {
			blamed++
		}
	}
	require.Equal(b, benchBatchSize, peer, "every span joins its pool")
	require.Positive(b, blamed, "the retransmits are found")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatchSize), "ns/span")
}
