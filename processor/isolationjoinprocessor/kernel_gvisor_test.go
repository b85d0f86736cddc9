package isolationjoinprocessor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// syscallServer answers every GET after 3000 one-byte reads of /dev/zero:
// request work made of syscalls, the part gVisor's ptrace platform slows.
const syscallServer = `
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        fd = os.open("/dev/zero", os.O_RDONLY)
        for _ in range(3000):
            os.read(fd, 1)
        os.close(fd)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
`

// TestKernelGVisorServerSpansAreL4: the same Python server inside gVisor
// (runsc, ptrace platform, host network) and as a plain process. Stock
// server spans (no pid: the identity is the accepted socket's owner) of
// the sandboxed one resolve to the Sentry, are placed L4 gvisor and blamed
// L4 on the stub's syscall traps the receiver measured; the plain server's
// spans are neither.
func TestKernelGVisorServerSpansAreL4(t *testing.T) {
	testenv.RequireRoot(t, "runsc", "python3")
	tp, lp, sink := startJoin(t)
	startReceiver(t, lp, "tcp_connection", "sched_delay", "syscall_slow")

	sandboxed, plain := freePort(t), freePort(t)
	testenv.StartGVisor(t, nil, "/usr/bin/python3", "-c", syscallServer, fmt.Sprint(sandboxed))
	plainSrv := exec.Command("/usr/bin/python3", "-c", syscallServer, fmt.Sprint(plain))
	require.NoError(t, plainSrv.Start())
	t.Cleanup(func() { _ = plainSrv.Process.Kill(); _ = plainSrv.Wait() })

	// One resource per server process, as each SDK sends its own.
	td := ptrace.NewTraces()
	resources := map[int]ptrace.SpanSlice{sandboxed: stockResource(td, "sandboxed", 0), plain: stockResource(td, "plain", 0)}
	for i, port := range []int{sandboxed, plain, sandboxed, plain} {
		spans := resources[port]
		waitListening(t, port)
		start := time.Now()
		local := get(t, port)
		end := time.Now()
		s := spans.AppendEmpty()
		s.SetName("GET /work")
		s.SetKind(ptrace.SpanKindServer)
		s.SetTraceID(pcommon.TraceID{0x18, byte(i)})
		s.SetSpanID(pcommon.SpanID{0x18, byte(i), byte(port % 251)})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		putAll(s.Attributes(), kv{"http.request.method": "GET", "server.address": "127.0.0.1", "server.port": port, "url.path": "/work",
			"network.peer.address": "127.0.0.1", "network.peer.port": local.Port, "client.address": "127.0.0.1"})
		t.Logf("request to %d took %v", port, end.Sub(start).Round(time.Millisecond))
	}
	// The last request's final trap window is written when the sandboxed
	// thread next comes back from a long stop (bpf/syscall_wait.h): here
	// at serve_forever's next 0.5s poll, stamped at the request's last
	// trap. Sent 300ms after it, the spans could leave on a watermark
	// before it (1 run in 54). An SDK's exporter sends later than that
	// anyway (a BatchSpanProcessor every 5s by default).
	time.Sleep(700 * time.Millisecond)
	require.NoError(t, tp.ConsumeTraces(context.Background(), td))
	require.Eventually(t, func() bool { return sink.SpanCount() == 4 }, 30*time.Second, 10*time.Millisecond)

	for _, sp := range sinkSpans(sink) {
		port, _ := sp.Attributes().Get("server.port")
		cause, _ := attr(sp, attrCause).(string)
		t.Logf("port %d: join %v layer %v runtime %v stack %v — %s", port.Int(), attr(sp, attrJoin), attr(sp, contract.AttrIsolationLayer),
			attr(sp, attrRuntime), attr(sp, attrRuntimeStack), cause)
		if int(port.Int()) == sandboxed {
			assert.Equal(t, contract.LayerL4, attr(sp, attrRuntime), "the sandboxed server's span is placed in the sandbox")
			stack, _ := attr(sp, attrRuntimeStack).(string)
			assert.True(t, strings.HasPrefix(stack, "L4 gvisor"), "stack %q", stack)
			assert.Equal(t, contract.LayerL4, attr(sp, contract.AttrIsolationLayer), "blamed on the sandbox: %s", cause)
			assert.Contains(t, cause, "sandbox syscall traps")
		} else {
			assert.NotEqual(t, contract.LayerL4, attr(sp, attrRuntime))
			assert.NotEqual(t, contract.LayerL4, attr(sp, contract.AttrIsolationLayer), "the plain server: %s", cause)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "server on port %d", port)
}

// get makes one request on its own connection and returns its local end.
func get(t *testing.T, port int) *net.TCPAddr {
	t.Helper()
	var local *net.TCPAddr
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			local = c.LocalAddr().(*net.TCPAddr)
		}
		return c, err
	}}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/work", port))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return local
}
