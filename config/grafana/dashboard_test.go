package grafana_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// panel is what the test reads of a dashboard panel.
type panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func loadPanels(t *testing.T) []panel {
	t.Helper()
	raw, err := os.ReadFile("crosshair.json")
	require.NoError(t, err)
	var d struct {
		Panels []panel `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &d))
	return d.Panels
}

// promQL turns a panel's expression into what Prometheus evaluates: Grafana's
// variables replaced as Grafana would with "All" selected.
func promQL(expr string) string {
	return strings.NewReplacer("$__rate_interval", "1m", "$node", ".*").Replace(expr)
}

func TestDashboardPanels(t *testing.T) {
	panels := loadPanels(t)
	titles := map[string]bool{}
	for _, p := range panels {
		titles[p.Title] = true
		require.Len(t, p.Targets, 1, "%s: one query", p.Title)
		require.NotEmpty(t, p.Targets[0].Expr, "%s", p.Title)
	}
	for _, want := range []string{"Spans per isolation layer", "TCP retransmits by peer", "Packet drops by reason",
		"CPU throttling by container", "Run-queue delay", "Block IO latency", "CPU steal"} {
		require.True(t, titles[want], "panel %q", want)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess runs a command for the test's duration, its output in the
// test log when the test fails.
func startProcess(t *testing.T, name string, env []string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	require.NoError(t, err)
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), env...)
	require.NoError(t, cmd.Start(), name)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("%s output (last 4 KiB):\n%s", name, tail(out, 4096))
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// query evaluates expr now and returns how many series it gives.
func query(ctx context.Context, promAddr, expr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+promAddr+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", expr, r.Error)
	}
	return len(r.Data.Result), nil
}

// sendSpans sends server spans of this test's process (stock resource plus
// process.pid, so the join finds the process) to the collector over OTLP/gRPC.
func sendSpans(endpoint string) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "dashboard-test")
	rs.Resource().Attributes().PutInt("process.pid", int64(os.Getpid()))
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := 0; i < 20; i++ {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i + 1), 0xd}) //nolint:gosec // i < 20
		s.SetSpanID(pcommon.SpanID{byte(i + 1), 0xd})   //nolint:gosec // i < 20
		s.SetName("GET /checkout")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-2 * time.Second)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Second)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

// TestDashboardQueriesAgainstPrometheus runs the shipped node-agent config
// (its Kubernetes-only parts swapped for local ones), a real Prometheus
// scraping its prometheus exporter, and real kernel activity — TCP loss on a
// veth pair, a CPU-throttled cgroup, direct block IO, spans over OTLP — and
// fails when a panel's query returns no series.
func TestDashboardQueriesAgainstPrometheus(t *testing.T) {
	testenv.RequireRoot(t, "prometheus", "nft", "ip")
	bin := os.Getenv("OTELCOL_CROSSHAIR")
	if bin == "" {
		bin = "../../_build/otelcol-crosshair"
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.SkipOrFail(t, "%s not built (make build, or set OTELCOL_CROSSHAIR): %v", bin, err)
	}
	if err := testenv.MountTracefs(); err != nil {
		testenv.SkipOrFail(t, "tracefs: %v", err)
	}

	otlpPort, metricsPort, promPort := freePort(t), freePort(t), freePort(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	// k8s_attributes needs a Kubernetes API; the rest is the shipped config.
	startProcess(t, bin, []string{"POD_IP=127.0.0.1", "K8S_NODE_NAME=dashboard-node", "GATEWAY_ENDPOINT=127.0.0.1:1"},
		"--config=../node-agent.yaml",
		"--set=service::pipelines::traces::processors=[memory_limiter,isolation_join,batch]",
		"--set=processors::k8s_attributes=null",
		fmt.Sprintf("--set=receivers::otlp::protocols::grpc::endpoint=127.0.0.1:%d", otlpPort),
		fmt.Sprintf("--set=receivers::otlp::protocols::http::endpoint=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("--set=extensions::health_check::endpoint=127.0.0.1:%d", freePort(t)),
		"--set=service::telemetry::metrics::level=none",
		"--set=exporters::prometheus::endpoint="+metricsAddr,
		"--set=receivers::ebpf::metrics_interval=1s",
		"--set=receivers::ebpf::conntrack::stat_path=/proc/net/stat/nf_conntrack",
	)

	dir := t.TempDir()
	promCfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(promCfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: crosshair-node-agent
    static_configs:
      - targets: ["%s"]
        labels:
          node: dashboard-node
`, metricsAddr)), 0o600))
	promAddr := fmt.Sprintf("127.0.0.1:%d", promPort)
	startProcess(t, "prometheus", nil, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")

	// Kernel activity for the panels the idle node may not show.
	a, b := testenv.NewNetns(t, "chx-dash-a"), testenv.NewNetns(t, "chx-dash-b")
	link := testenv.NewVethPair(t, a, b, "chxdash0", "chxdash1", "198.18.77.1/30", "198.18.77.2/30")
	testenv.DropInput(t, b, 7777, 20) // NETFILTER_DROP drops and retransmits
	cg := testenv.NewCgroupV1(t, "cpu", "dashboard", map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "10000"})
	testenv.StartInCgroup(t, "exec sh -c 'while :; do :; done'", cg) // throttled 90% of each period

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	panels := loadPanels(t)
	empty := map[string]string{}
	for ctx.Err() == nil {
		link.Transfer(t, 7777, 256<<10)
		testenv.Run(t, "dd", "if=/dev/zero", "of="+filepath.Join(dir, "io"), "bs=64k", "count=16", "oflag=direct", "status=none")
		if err := sendSpans(fmt.Sprintf("127.0.0.1:%d", otlpPort)); err != nil {
			t.Logf("spans not sent yet (collector starting?): %v", err)
		}
		clear(empty)
		for _, p := range panels {
			expr := promQL(p.Targets[0].Expr)
			n, err := query(ctx, promAddr, expr)
			if err != nil || n == 0 {
				empty[p.Title] = fmt.Sprintf("%s → %d series, err %v", expr, n, err)
			}
		}
		if len(empty) == 0 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	require.Empty(t, empty, "dashboard panels whose query returned no series")

	// The check can fail: a misspelled metric gives no series.
	n, err := query(context.Background(), promAddr, `sum(rate(kernel_tcp_retransmit_total[1m]))`)
	require.NoError(t, err)
	require.Zero(t, n, "a query of a metric that does not exist")
	t.Logf("%d panels, each with series, from Prometheus at %s scraping %s", len(panels), promAddr, metricsAddr)
}
