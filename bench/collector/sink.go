package main

import (
	"context"
	"net"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the collector's otlp exporter compresses with gzip by default
	"google.golang.org/grpc/status"
)

// sink is the OTLP/gRPC trace endpoint the collector under test exports to.
// It counts spans and can be made unavailable to back the pipeline up.
type sink struct {
	ptraceotlp.UnimplementedGRPCServer
	spans  atomic.Int64
	down   atomic.Bool
	server *grpc.Server
	lis    net.Listener
}

// sinkMaxMsg is the largest export request the sink accepts.
const sinkMaxMsg = 64 << 20

func startSink() (*sink, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// gRPC's default 4 MiB receive limit refuses (ResourceExhausted, not
	// retried: exporter_send_failed_spans) a batch the batch processor
	// closed at send_batch_size (8192) of these spans once the join's
	// attributes are on them — released held spans arrive in bursts, so
	// such batches do form. A backend takes what it is sent here; the
	// deployment note is in docs/performance.md (send_batch_max_size).
	s := &sink{server: grpc.NewServer(grpc.MaxRecvMsgSize(sinkMaxMsg)), lis: lis}
	ptraceotlp.RegisterGRPCServer(s.server, s)
	go func() { _ = s.server.Serve(lis) }()
	return s, nil
}

func (s *sink) addr() string { return s.lis.Addr().String() }

func (s *sink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if s.down.Load() {
		return ptraceotlp.NewExportResponse(), status.Error(codes.Unavailable, "sink stopped by the harness")
	}
	s.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

func (s *sink) stop() { s.server.Stop() }
