package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
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

// runLoadgen is the generator process: it sends rate spans/s (20
// attributes each, network attributes on every span) to endpoint for
// duration, then prints a loadResult as JSON.
func runLoadgen(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	endpoint := fs.String("endpoint", "127.0.0.1:4317", "OTLP/gRPC endpoint")
	rate := fs.Int("rate", 10000, "spans per second")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	peerPort := fs.Int("peer-port", 9, "network.peer.port on the spans")
	workers := fs.Int("workers", 4, "concurrent exporters")
	_ = fs.Parse(args)

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
				req := ptraceotlp.NewExportRequestFromTraces(makeTraces(w, seq, *peerPort))
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

// makeTraces builds one request: spansPerRequest client spans of one trace
// each, 20 attributes per span.
func makeTraces(worker, seq, peerPort int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "loadgen")
	rs.Resource().Attributes().PutInt("process.pid", int64(os.Getpid()))
	rs.Resource().Attributes().PutStr("host.name", "bench")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := range spansPerRequest {
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
		s.SetName("GET /checkout")
		s.SetKind(ptrace.SpanKindClient)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-5 * time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
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
