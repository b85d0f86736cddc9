package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/sys/unix"
)

// Kernel fixtures of the live view test; the chx-view- prefix keeps them
// apart from the e2e's chx-e2e-* and other tests'.
const (
	liveClientNs = "chx-view-cli"
	liveServerNs = "chx-view-srv"
	liveClientIf = "chx-view-c"
	liveServerIf = "chx-view-s"
	liveClientIP = "198.18.247.1"
	liveServerIP = "198.18.247.2"
	livePort     = 8080
	liveNftTable = "chx_view_drop"
)

const liveConfig = `receivers:
  ebpf: {}
  otlp:
    protocols:
      http:
        endpoint: %[1]s
processors:
  isolation_join: {}
exporters:
  file/kernel:
    path: %[3]s/kernel-events.jsonl
  diagnosis:
    slow_threshold: 50ms
    trace_wait: 2s
    text_path: ""
    json_path: %[3]s/diagnosis.jsonl
    view:
      endpoint: %[2]s
service:
  pipelines:
    logs/kernel:
      receivers: [ebpf]
      processors: [isolation_join]
      exporters: [file/kernel]
    traces:
      receivers: [otlp]
      processors: [isolation_join]
      exporters: [diagnosis]
  telemetry:
    metrics:
      level: none
`

// TestViewLiveLoss is the view end to end on a real fault: the built
// collector (ebpf receiver, isolation_join, diagnosis with the view) runs
// on this node; a client and a server instrumented with stock otelhttp and
// the SDK's default resource talk over a veth pair between two network
// namespaces the test creates, with nftables dropping 20% of the data
// segments where they arrive, and export their spans over OTLP/HTTP. Then
// Chromium loads the view: a diagnosed trace of the exchange has its slow
// hop highlighted and the retransmits and drops drawn on the L3 lane.
// Run it under the shared kernel lock (flock /tmp/chx-kernel.lock).
func TestViewLiveLoss(t *testing.T) {
	collector, chromium := requireView(t)
	requireLiveKernel(t)
	dir := t.TempDir()
	ctx := context.Background()

	cli := newLiveNetns(t, liveClientNs)
	srvNs := newLiveNetns(t, liveServerNs)
	liveRun(t, "ip", "link", "add", liveClientIf, "netns", cli, "type", "veth", "peer", "name", liveServerIf, "netns", srvNs)
	for _, side := range [][3]string{{cli, liveClientIf, liveClientIP}, {srvNs, liveServerIf, liveServerIP}} {
		liveRun(t, "ip", "-n", side[0], "addr", "add", side[2]+"/30", "dev", side[1])
		liveRun(t, "ip", "-n", side[0], "link", "set", side[1], "up")
		// One dropped packet is one lost segment.
		liveRun(t, "ip", "netns", "exec", side[0], "ethtool", "-K", side[1], "tso", "off", "gso", "off", "gro", "off")
	}

	col, err := StartCollector(ctx, collector, dir, func(otlp, view string) string {
		return fmt.Sprintf(liveConfig, otlp, view, dir)
	}, "ebpf receiver started")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(col.Stop)

	// The server: stock otelhttp, listening inside its namespace.
	serverTP := stockTracerProvider(t, "view-live-server", col.OTLP)
	var ln net.Listener
	if err := inNetns(srvNs, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(liveServerIP, fmt.Sprint(livePort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("crosshair"), 64<<10/9)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /data", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
	server := &http.Server{Handler: otelhttp.NewHandler(mux, "server", otelhttp.WithTracerProvider(serverTP), otelhttp.WithPropagators(propagation.TraceContext{})), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = server.Serve(ln) }()
	t.Cleanup(func() { _ = server.Close() })

	// The client: stock otelhttp transport, its sockets in its namespace.
	clientTP := stockTracerProvider(t, "view-live-client", col.OTLP)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 20 * time.Second, Transport: otelhttp.NewTransport(&http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = inNetns(cli, func() error { c, err = dialer.DialContext(ctx, network, addr); return err })
			return c, err
		},
	}, otelhttp.WithTracerProvider(clientTP), otelhttp.WithPropagators(propagation.TraceContext{}))}

	// The fault: 20% of the data segments dropped where they arrive.
	nft := fmt.Sprintf(`table inet %[1]s {
	chain prerouting {
		type filter hook prerouting priority -150; policy accept;
		tcp sport %[2]d tcp flags & syn == 0 numgen random mod 100 < 20 drop
		tcp dport %[2]d tcp flags & syn == 0 numgen random mod 100 < 20 drop
	}
}
`, liveNftTable, livePort)
	for _, ns := range []string{cli, srvNs} {
		cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(nft)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft in %s: %v\n%s", ns, err, out)
		}
	}

	url := "http://" + net.JoinHostPort(liveServerIP, fmt.Sprint(livePort)) + "/data"
	for i := 0; i < 40; i++ {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for _, tp := range []*sdktrace.TracerProvider{clientTP, serverTP} {
		if err := tp.ForceFlush(ctx); err != nil {
			t.Fatalf("flush spans: %v", err)
		}
	}

	// A trace the collector diagnosed L3 with retransmits on the slow hop.
	var id, hopSpan, hopService string
	deadline := time.Now().Add(45 * time.Second)
	for id == "" {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "diagnosis.jsonl"))
			t.Fatalf("no trace diagnosed L3 with retransmits within 45s; diagnoses:\n%s\ncollector log:\n%s", tail(string(b), 4000), tail(col.Log(), 3000))
		}
		time.Sleep(500 * time.Millisecond)
		b, _ := os.ReadFile(filepath.Join(dir, "diagnosis.jsonl"))
		for _, line := range bytes.Split(b, []byte("\n")) {
			var r struct {
				TraceID string `json:"trace_id"`
				Layer   string `json:"layer"`
				SlowHop struct {
					SpanID, Service string
				} `json:"slow_hop"`
				KernelEvents struct {
					Kinds map[string]int `json:"kinds"`
				} `json:"kernel_events"`
			}
			if json.Unmarshal(line, &r) == nil && r.Layer == "L3" && r.KernelEvents.Kinds["kernel.tcp.retransmit"] > 0 {
				id, hopSpan, hopService = r.TraceID, r.SlowHop.SpanID, r.SlowHop.Service
				break
			}
		}
	}
	if err := col.WaitTrace(ctx, id); err != nil {
		t.Fatal(err)
	}
	page, err := CheckView(ctx, chromium, col.Base, id, hopSpan, "L3", []string{"kernel.tcp.retransmit", "kernel.skb.drop"}, filepath.Join("_out", "view-test-live-loss.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.SlowHop, hopService) {
		t.Errorf("slow hop line %q does not name %s", page.SlowHop, hopService)
	}
	// The list offers the trace under the L3 filter.
	dom, err := chromium.DOM(ctx, col.Base+"/?layer=L3&service="+hopService)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`data-trace-id="` + id + `"`).MatchString(dom) {
		t.Errorf("?layer=L3&service=%s does not list trace %s", hopService, id)
	}
	t.Logf("trace %s: slow hop %q, marks per lane %s", id, page.SlowHop, page.LaneSummary())
}

// requireLiveKernel skips (fails under CROSSHAIR_REQUIRE_BPF=1) unless the
// test can create namespaces, veths and nftables rules and load probes.
func requireLiveKernel(t *testing.T) {
	t.Helper()
	msg := ""
	if os.Geteuid() != 0 {
		msg = "needs root for namespaces, nftables and BPF"
	}
	for _, tool := range []string{"ip", "nft", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil && msg == "" {
			msg = "needs " + tool + " on PATH"
		}
	}
	if msg != "" {
		if os.Getenv("CROSSHAIR_REQUIRE_BPF") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// stockTracerProvider is what a service gets from the SDK with only
// OTEL_SERVICE_NAME set: the default resource, OTLP/HTTP export.
func stockTracerProvider(t *testing.T, service, endpoint string) *sdktrace.TracerProvider {
	t.Helper()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(strings.TrimPrefix(endpoint, "http://")), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(200*time.Millisecond)))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

func liveRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// newLiveNetns creates a network namespace (removing one a killed run
// left) and deletes it, with its veth end and nft table, at the end.
func newLiveNetns(t *testing.T, name string) string {
	t.Helper()
	_ = exec.Command("ip", "netns", "del", name).Run()
	liveRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	liveRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// inNetns runs fn on a thread inside the named namespace, so the sockets
// fn creates belong to it; the thread returns to its namespace after.
func inNetns(name string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + name)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", name, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.Goexit() // this thread is in the wrong namespace: never reuse it
	}
	return fnErr
}
