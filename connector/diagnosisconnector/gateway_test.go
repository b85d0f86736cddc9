package diagnosisconnector

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the OTLP exporter compresses with gzip

	"github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// backend is an OTLP/gRPC server standing in for the trace and log backend.
type backend struct {
	plogotlp.UnimplementedGRPCServer
	mu   sync.Mutex
	logs []plog.Logs
}

func (b *backend) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ld := plog.NewLogs()
	req.Logs().CopyTo(ld)
	b.logs = append(b.logs, ld)
	return plogotlp.NewExportResponse(), nil
}

// diagnoses returns the crosshair.diagnosis records received so far.
func (b *backend) diagnoses() []plog.LogRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []plog.LogRecord
	for _, ld := range b.logs {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				for k := 0; k < sls.At(j).LogRecords().Len(); k++ {
					if lr := sls.At(j).LogRecords().At(k); lr.EventName() == diagnosisexporter.EventName {
						out = append(out, lr)
					}
				}
			}
		}
	}
	return out
}

type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
}

func (*traceSink) Export(context.Context, ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	return ptraceotlp.NewExportResponse(), nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestShippedGatewayForwardsDiagnosis runs the built collector on the shipped
// config/gateway.yaml (listen addresses and trace_wait overridden) with a
// real OTLP backend: a slow trace a node agent tagged L3 goes in over OTLP,
// and its diagnosis comes out at the backend as a crosshair.diagnosis log
// record, next to the spans.
func TestShippedGatewayForwardsDiagnosis(t *testing.T) {
	bin := os.Getenv("OTELCOL_CROSSHAIR")
	if bin == "" {
		bin = "../../_build/otelcol-crosshair"
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.SkipOrFail(t, "%s not built (make build, or set OTELCOL_CROSSHAIR): %v", bin, err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	be := &backend{}
	plogotlp.RegisterGRPCServer(srv, be)
	ptraceotlp.RegisterGRPCServer(srv, &traceSink{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	otlpPort := freePort(t)
	logFile := filepath.Join(t.TempDir(), "gateway.log")
	out, err := os.Create(logFile)
	require.NoError(t, err)
	cmd := exec.Command(bin, "--config=../../config/gateway.yaml",
		"--set=connectors::diagnosis::trace_wait=1s",
		"--set=connectors::diagnosis::slow_threshold=100ms", // the test trace's slow hop takes 236ms
		fmt.Sprintf("--set=receivers::otlp::protocols::grpc::endpoint=127.0.0.1:%d", otlpPort),
		fmt.Sprintf("--set=receivers::otlp::protocols::http::endpoint=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("--set=extensions::health_check::endpoint=127.0.0.1:%d", freePort(t)),
		"--set=service::telemetry::metrics::level=none")
	cmd.Env = append(os.Environ(), "POD_IP=127.0.0.1", "BACKEND_ENDPOINT="+lis.Addr().String())
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("gateway output:\n%s", b)
		}
	})

	// The trace as node agents forward it: spans already joined.
	tid := pcommon.TraceID{0xc, 0xa, 0xf, 0xe}
	td := ptrace.NewTraces()
	slowTrace(td, tid)
	now := time.Now()
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		s := td.ResourceSpans().At(i).ScopeSpans().At(0).Spans().At(0)
		shift := now.Add(-time.Second).Sub(t0)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(s.StartTimestamp().AsTime().Add(shift)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(s.EndTimestamp().AsTime().Add(shift)))
	}
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", otlpPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		return err == nil
	}, 20*time.Second, 200*time.Millisecond, "gateway accepts OTLP")

	require.Eventually(t, func() bool { return len(be.diagnoses()) > 0 }, 30*time.Second, 200*time.Millisecond,
		"no crosshair.diagnosis log record reached the backend")
	lr := be.diagnoses()[0]
	assert.Equal(t, tid, lr.TraceID())
	layer, _ := lr.Attributes().Get("isolation.layer")
	assert.Equal(t, "L3", layer.Str())
	assert.Contains(t, lr.Body().Str(), "slow hop: order → payment")
}
