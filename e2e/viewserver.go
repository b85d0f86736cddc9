package e2e

import (
	"bufio"
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
	"strings"
	"syscall"
	"time"
)

// ViewServer is otelcol-crosshair serving only the crosshair view: spans
// that already carry isolation_join's verdicts and kernel span events come
// in over OTLP/HTTP, the diagnosis exporter diagnoses them and draws them.
// The harness and the browser test replay captured traces into it.
type ViewServer struct {
	OTLP string // http://127.0.0.1:port
	Base string // the view, http://127.0.0.1:port
	cmd  *exec.Cmd
	log  string
}

const viewConfig = `receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
exporters:
  diagnosis:
    slow_threshold: 20ms
    trace_wait: 1s
    text_path: ""
    view:
      endpoint: %s
      max_traces: 1000
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [diagnosis]
  telemetry:
    metrics:
      level: none
`

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StartViewServer starts the collector binary bin with the view on
// loopback ports; its config and log go to dir.
func StartViewServer(ctx context.Context, bin, dir string) (*ViewServer, error) {
	return StartCollector(ctx, bin, dir, func(otlp, view string) string { return fmt.Sprintf(viewConfig, otlp, view) }, "")
}

// StartCollector starts the collector binary bin on the config that
// config returns for two free loopback ports (OTLP/HTTP, the view), waits
// until the view answers and, when ready is not "", until its log has that
// line, e.g. the ebpf receiver's start line. Config and log go to dir.
func StartCollector(ctx context.Context, bin, dir string, config func(otlp, view string) string, ready string) (*ViewServer, error) {
	otlp, err := freePort()
	if err != nil {
		return nil, err
	}
	view, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "view-collector.yaml")
	if err := os.WriteFile(cfg, []byte(config(otlp, view)), 0o644); err != nil {
		return nil, err
	}
	v := &ViewServer{OTLP: "http://" + otlp, Base: "http://" + view, log: filepath.Join(dir, "view-collector.log")}
	logf, err := os.Create(v.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	v.cmd = exec.Command(bin, "--config", cfg)
	v.cmd.Stdout, v.cmd.Stderr = logf, logf
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(v.Base + "/")
		if err == nil {
			resp.Body.Close()
			b, _ := os.ReadFile(v.log)
			if resp.StatusCode == http.StatusOK && (ready == "" || strings.Contains(string(b), ready)) {
				return v, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			v.Stop()
			b, _ := os.ReadFile(v.log)
			return nil, fmt.Errorf("the collector was not ready (view at %s, log line %q): %v\n%s", v.Base, ready, err, tail(string(b), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log is the collector's output so far.
func (v *ViewServer) Log() string {
	b, _ := os.ReadFile(v.log)
	return string(b)
}

// Stop ends the collector.
func (v *ViewServer) Stop() {
	if v.cmd == nil || v.cmd.Process == nil {
		return
	}
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = v.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = v.cmd.Process.Kill()
		<-done
	}
	v.cmd = nil
}

// Replay sends OTLP/JSON export requests (as the file exporter writes them,
// one per line) to the collector.
func (v *ViewServer) Replay(requests [][]byte) error {
	for _, body := range requests {
		resp, err := http.Post(v.OTLP+"/v1/traces", "application/json", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("OTLP export: %w", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("OTLP export: %s: %s", resp.Status, b)
		}
	}
	return nil
}

// WaitTrace waits until the view's list links the trace.
func (v *ViewServer) WaitTrace(ctx context.Context, traceID string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(v.Base + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "/trace/"+traceID) {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("trace %s not listed by the view within 20s (not diagnosed: no span over 20ms nor failed?)", traceID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TraceRequests reads a file exporter's OTLP/JSON lines and returns them
// cut down to the spans of one trace (requests without any are left out).
func TraceRequests(path, traceID string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(traceID)) {
			continue
		}
		var req struct {
			ResourceSpans []struct {
				Resource   json.RawMessage `json:"resource"`
				SchemaURL  string          `json:"schemaUrl,omitempty"`
				ScopeSpans []struct {
					Scope     json.RawMessage   `json:"scope"`
					SchemaURL string            `json:"schemaUrl,omitempty"`
					Spans     []json.RawMessage `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return nil, err
		}
		keep := req.ResourceSpans[:0]
		for _, rs := range req.ResourceSpans {
			scopes := rs.ScopeSpans[:0]
			for _, ss := range rs.ScopeSpans {
				spans := ss.Spans[:0]
				for _, s := range ss.Spans {
					var id struct {
						TraceID string `json:"traceId"`
					}
					if json.Unmarshal(s, &id) == nil && id.TraceID == traceID {
						spans = append(spans, s)
					}
				}
				if len(spans) > 0 {
					ss.Spans = spans
					scopes = append(scopes, ss)
				}
			}
			if len(scopes) > 0 {
				rs.ScopeSpans = scopes
				keep = append(keep, rs)
			}
		}
		if len(keep) == 0 {
			continue
		}
		req.ResourceSpans = keep
		b, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, sc.Err()
}
