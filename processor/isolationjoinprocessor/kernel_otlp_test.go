package isolationjoinprocessor

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadatatest"
)

// Environment of the sender child process (TestOTLPSenderChild).
const (
	envSendProtocol = "CHX_TEST_OTLP_SEND"     // grpc | http
	envSendEndpoint = "CHX_TEST_OTLP_ENDPOINT" // host:port of the collector's OTLP receiver
)

// TestKernelOTLPSenderIsTheSpansProcess runs the real ebpf receiver and
// the real OTLP receiver in front of the processor. Another process on this
// node (this test binary, re-executed) sends spans with an SDK default
// resource — no process.pid — over OTLP/gRPC and OTLP/HTTP; the processor
// must tie them to that process through the connection that delivered
// them.
func TestKernelOTLPSenderIsTheSpansProcess(t *testing.T) {
	testenv.RequireRoot(t)
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			tt := componenttest.NewTelemetry()
			t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
			tp, lp, sink := startJoinWith(t, metadatatest.NewSettings(tt), 5*time.Second)
			startReceiver(t, lp, "tcp_connection")

			endpoint := freeLoopbackPort(t)
			of := otlpreceiver.NewFactory()
			ocfg := of.CreateDefaultConfig().(*otlpreceiver.Config)
			if proto == "grpc" {
				ocfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = endpoint
			} else {
				ocfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = endpoint
			}
			recv, err := of.CreateTraces(context.Background(), receivertest.NewNopSettings(of.Type()), ocfg, tp)
			require.NoError(t, err)
			require.NoError(t, recv.Start(context.Background(), componenttest.NewNopHost()))
			t.Cleanup(func() { _ = recv.Shutdown(context.Background()) })

			child := exec.Command(os.Args[0], "-test.run=^TestOTLPSenderChild$", "-test.v")
			child.Env = append(os.Environ(), envSendProtocol+"="+proto, envSendEndpoint+"="+endpoint)
			var out bytes.Buffer
			child.Stdout, child.Stderr = &out, &out
			require.NoError(t, child.Start())
			t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

			// The first batch opens the connection; the second, 1.5s
			// later, is the one checked (the collector's accepted socket
			// had time to be claimed by its owner too).
			var probe ptrace.Span
			require.Eventually(t, func() bool {
				for _, sp := range sinkSpans(sink) {
					if sp.Name() == "probe" {
						probe = sp
						return true
					}
				}
				return false
			}, 30*time.Second, 20*time.Millisecond, "no probe span; child output:\n%s", &out)
			assert.Equal(t, "process", attr(probe, attrJoin), "resolved to the sending process (pid %d)", child.Process.Pid)
			assert.NotNil(t, attr(probe, attrRuntime), "placement of the sender, read from its /proc")
			if proto == "grpc" {
				// Both batches: the sender's socket is known from its
				// connect. Over HTTP the first batch may leave before the
				// collector's accepted socket has an owner (the receiver
				// claims accepted sockets by a periodic walk).
				metadatatest.AssertEqualProcessorIsolationJoinSpansIdentified(t, tt, []metricdata.DataPoint[int64]{
					{Value: 2, Attributes: attribute.NewSet(attribute.String("identity", identityOTLPSender))},
				}, metricdatatest.IgnoreTimestamp())
			}
		})
	}
}

// TestOTLPSenderChild is the sender process of the test above: it does
// nothing unless run by it.
func TestOTLPSenderChild(t *testing.T) {
	proto, endpoint := os.Getenv(envSendProtocol), os.Getenv(envSendEndpoint)
	if proto == "" {
		t.Skip("run by TestKernelOTLPSenderIsTheSpansProcess")
	}
	send := httpSender(endpoint)
	if proto == "grpc" {
		conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		cl := ptraceotlp.NewGRPCClient(conn)
		send = func(td ptrace.Traces) error {
			_, err := cl.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td))
			return err
		}
	}
	require.NoError(t, send(sdkBatch("warmup")))
	time.Sleep(1500 * time.Millisecond)
	require.NoError(t, send(sdkBatch("probe")))
	fmt.Println("sent")
	time.Sleep(30 * time.Second) // stay alive: the processor reads this process's /proc
}

// sdkBatch is one span under the Go SDK's default resource.
func sdkBatch(name string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	a := rs.Resource().Attributes()
	a.PutStr("service.name", "unknown_service:sender")
	a.PutStr("telemetry.sdk.language", "go")
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	a.PutStr("telemetry.sdk.version", "1.47.0")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName(name)
	sp.SetKind(ptrace.SpanKindInternal)
	sp.SetTraceID(pcommon.TraceID{0x0e, byte(len(name))})
	sp.SetSpanID(pcommon.SpanID{0x0e, byte(len(name))})
	end := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-50 * time.Millisecond)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	return td
}

// httpSender posts OTLP/HTTP protobuf over one keep-alive connection.
func httpSender(endpoint string) func(ptrace.Traces) error {
	hc := &http.Client{Timeout: 10 * time.Second}
	return func(td ptrace.Traces) error {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			return err
		}
		resp, err := hc.Post("http://"+endpoint+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("OTLP/HTTP export: %s", resp.Status)
		}
		_, err = bytes.NewBuffer(nil).ReadFrom(resp.Body)
		return err
	}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}
