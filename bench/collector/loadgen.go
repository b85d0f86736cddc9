package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// loadResult is what the generator prints when it is done.
type loadResult struct {
	Sent    int64 `json:"sent"`    // spans offered
	Acked   int64 `json:"acked"`   // spans the collector accepted
	Refused int64 `json:"refused"` // spans in requests the collector refused
}

const spansPerRequest = 100

// runLoadgen is the generator process: it sends rate spans/s to endpoint
// for duration, then prints a loadResult as JSON. The requests are what a
// stock Go service sends (stockTraces); the service's own HTTP client
// traffic goes over a real keep-alive pool to peer-port, so the
// collector's connection table knows its connections.
func runLoadgen(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	endpoint := fs.String("endpoint", "127.0.0.1:4317", "OTLP/gRPC endpoint")
	rate := fs.Int("rate", 10000, "spans per second")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	peerPort := fs.Int("peer-port", 9, "port of the loopback server the spans' client requests go to")
	workers := fs.Int("workers", 4, "concurrent exporters")
	poolSize := fs.Int("pool", 4, "keep-alive connections to the peer (one per worker)")
	shape := fs.String("shape", "stock", "requests: stock (a stock Go service's) or host (the previous rounds': host.name of a node without kernel events, 5-tuples on the spans)")
	_ = fs.Parse(args)
	build := stockTraces
	switch *shape {
	case "stock":
	case "host":
		build = hostTraces
	default:
		return fmt.Errorf("unknown -shape %q", *shape)
	}

	pool, err := dialPool(fmt.Sprintf("127.0.0.1:%d", *peerPort), *poolSize)
	if err != nil {
		return err
	}
	defer pool.close()

	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)

	var res loadResult
	var sent, acked, refused atomic.Int64
	requests := *rate / spansPerRequest
	if requests < 1 {
		requests = 1
	}
	interval := time.Second / time.Duration(requests)
	work := make(chan int, *workers*4)
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range work {
				// The requests the spans describe: one write per batch
				// on a pooled connection, so the sockets see traffic.
				pool.use(w)
				req := ptraceotlp.NewExportRequestFromTraces(build(w, seq, *peerPort))
				sent.Add(spansPerRequest)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := client.Export(ctx, req)
				cancel()
				if err != nil {
					refused.Add(spansPerRequest)
				} else {
					acked.Add(spansPerRequest)
				}
			}
		}()
	}
	deadline := time.Now().Add(*duration)
	tick := time.NewTicker(interval)
	for seq := 0; time.Now().Before(deadline); seq++ {
		select {
		case work <- seq:
		default:
			// Every worker is busy: the collector is not keeping up. The
			// span is counted as offered and refused so the rate stays honest.
			sent.Add(spansPerRequest)
			refused.Add(spansPerRequest)
		}
		<-tick.C
	}
	tick.Stop()
	close(work)
	wg.Wait()
	res.Sent, res.Acked, res.Refused = sent.Load(), acked.Load(), refused.Load()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// pool is a service's HTTP client pool: keep-alive connections opened
// once (after the collector started, so the receiver sees them open and
// names their owner) and reused for every request.
type pool struct{ conns []net.Conn }

func dialPool(addr string, n int) (*pool, error) {
	p := &pool{}
	for range max(n, 1) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("pool: %w", err)
		}
		p.conns = append(p.conns, c)
	}
	return p, nil
}

// use writes a request's worth of bytes on connection w (mod the pool).
func (p *pool) use(w int) {
	_, _ = p.conns[w%len(p.conns)].Write([]byte("GET /checkout HTTP/1.1\r\nHost: payment\r\n\r\n"))
}

func (p *pool) close() {
	for _, c := range p.conns {
		c.Close()
	}
}

// sdkVersion is the Go SDK release the resource claims (telemetry.sdk.version).
const sdkVersion = "1.38.0"

// stockTraces builds one request as a stock Go service exports it: the
// SDK's default resource (service.name and telemetry.sdk.*; no host, no
// process.pid: the collector finds the process through the OTLP sender's
// socket) and spansPerRequest otelhttp client spans of one trace each
// (server.address is a host name, server.port, url.full; no socket
// address), brought to 20 attributes per span with application ones.
func stockTraces(worker, seq, peerPort int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "loadgen")
	ra.PutStr("telemetry.sdk.language", "go")
	ra.PutStr("telemetry.sdk.name", "opentelemetry")
	ra.PutStr("telemetry.sdk.version", sdkVersion)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	spans := ss.Spans()
	now := time.Now()
	url := fmt.Sprintf("http://payment:%d/checkout", peerPort)
	for i := range spansPerRequest {
		s := appendClientSpan(spans, worker, seq, i, "GET", now)
		a := s.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("url.full", url)
		a.PutStr("server.address", "payment")
		a.PutInt("server.port", int64(peerPort))
		a.PutStr("network.protocol.version", "1.1")
		a.PutInt("http.response.status_code", 200)
		for k := range 14 {
			a.PutStr(fmt.Sprintf("app.attr%d", k), "value-of-some-length")
		}
	}
	return td
}

// hostTraces is the load of the previous rounds (-shape host): a resource
// naming a node (host.name: bench) that sends no kernel events and a pid,
// spansPerRequest client spans of one trace each, 20 attributes with the
// socket's 5-tuple on every span.
func hostTraces(worker, seq, peerPort int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "loadgen")
	rs.Resource().Attributes().PutInt("process.pid", int64(os.Getpid()))
	rs.Resource().Attributes().PutStr("host.name", "bench")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := range spansPerRequest {
		s := appendClientSpan(spans, worker, seq, i, "GET /checkout", now)
		a := s.Attributes()
		a.PutStr("network.peer.address", "127.0.0.1")
		a.PutInt("network.peer.port", int64(peerPort))
		a.PutStr("network.local.address", "127.0.0.1")
		a.PutInt("network.local.port", int64(40000+i))
		a.PutStr("network.transport", "tcp")
		a.PutStr("network.type", "ipv4")
		a.PutStr("server.address", "payment")
		a.PutInt("server.port", int64(peerPort))
		a.PutStr("http.request.method", "GET")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("url.full", "http://payment/checkout")
		a.PutStr("url.scheme", "http")
		a.PutStr("user_agent.original", "loadgen/1.0")
		a.PutStr("network.protocol.version", "1.1")
		for k := range 6 {
			a.PutStr(fmt.Sprintf("app.attr%d", k), "value-of-some-length")
		}
	}
	return td
}

// appendClientSpan appends span i of request seq of a worker: a 5 ms client
// span ending now, in a trace of its own (ids unique per worker, seq and i).
func appendClientSpan(spans ptrace.SpanSlice, worker, seq, i int, name string, now time.Time) ptrace.Span {
	s := spans.AppendEmpty()
	var tid [16]byte
	var sid [8]byte
	n := uint64(worker)<<48 | uint64(seq)<<8 | uint64(i)
	for b := range 8 {
		tid[b] = byte(n >> (8 * b))
		sid[b] = byte(n >> (8 * b))
	}
	tid[15] = 1
	s.SetTraceID(pcommon.TraceID(tid))
	s.SetSpanID(pcommon.SpanID(sid))
	s.SetName(name)
	s.SetKind(ptrace.SpanKindClient)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-5 * time.Millisecond)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	return s
}
