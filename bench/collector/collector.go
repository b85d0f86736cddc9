package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pipeline names a collector config under test.
type pipeline struct {
	Name string
	// Join puts the ebpf receiver and isolation_join in; otherwise the
	// stock otlp → batch → exporter pipeline.
	Join bool
	// MemLimitMiB > 0 adds memory_limiter with this limit.
	MemLimitMiB int
	// SinkAddr is the OTLP/gRPC sink; empty means debug exporter only.
	SinkAddr string
	// PprofAddr > "" adds the pprof extension listening there (-profile).
	PprofAddr string
}

// config renders the collector YAML for p, listening on otlpPort and
// exposing its own metrics on metricsPort.
func (p pipeline) config(otlpPort, metricsPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:%d\n", otlpPort)
	if p.Join {
		b.WriteString("  ebpf: {}\n")
	}
	b.WriteString("processors:\n  batch: {}\n")
	if p.Join {
		b.WriteString("  isolation_join: {}\n")
	}
	if p.MemLimitMiB > 0 {
		fmt.Fprintf(&b, "  memory_limiter:\n    check_interval: 100ms\n    limit_mib: %d\n    spike_limit_mib: %d\n", p.MemLimitMiB, p.MemLimitMiB/5)
	}
	b.WriteString("exporters:\n  debug:\n    verbosity: basic\n    sampling_initial: 1\n    sampling_thereafter: 1000000\n")
	traceExporter := "debug"
	if p.SinkAddr != "" {
		traceExporter = "otlp_grpc"
		fmt.Fprintf(&b, "  otlp_grpc:\n    endpoint: %s\n    tls:\n      insecure: true\n", p.SinkAddr)
		// Nothing the receiver acknowledged may be lost while the sink is
		// down: retry without a deadline, queue enough for the outage.
		b.WriteString("    retry_on_failure:\n      enabled: true\n      initial_interval: 100ms\n      max_interval: 1s\n      max_elapsed_time: 0s\n")
		b.WriteString("    sending_queue:\n      enabled: true\n      queue_size: 100000\n")
	}
	if p.PprofAddr != "" {
		fmt.Fprintf(&b, "extensions:\n  pprof:\n    endpoint: %s\n", p.PprofAddr)
	}
	var procs []string
	if p.MemLimitMiB > 0 {
		procs = append(procs, "memory_limiter")
	}
	if p.Join {
		procs = append(procs, "isolation_join")
	}
	procs = append(procs, "batch")
	b.WriteString("service:\n")
	if p.PprofAddr != "" {
		b.WriteString("  extensions: [pprof]\n")
	}
	b.WriteString("  telemetry:\n    logs:\n      level: warn\n")
	fmt.Fprintf(&b, "    metrics:\n      level: normal\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: 127.0.0.1\n                port: %d\n", metricsPort)
	b.WriteString("  pipelines:\n")
	fmt.Fprintf(&b, "    traces:\n      receivers: [otlp]\n      processors: [%s]\n      exporters: [%s]\n", strings.Join(procs, ", "), traceExporter)
	if p.Join {
		b.WriteString("    logs/kernel:\n      receivers: [ebpf]\n      processors: [isolation_join]\n      exporters: [debug]\n")
	}
	return b.String()
}

// collector is a running otelcol-crosshair.
type collector struct {
	cmd         *exec.Cmd
	otlpAddr    string
	metricsAddr string
	logPath     string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startCollector writes p's config to dir and starts bin on it, returning
// once its OTLP port accepts connections.
func startCollector(bin, dir string, p pipeline) (*collector, error) {
	otlpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, p.Name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(p.config(otlpPort, metricsPort)), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, p.Name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if p.MemLimitMiB > 0 {
		// The memory limiter watches the Go heap, not RSS; the soft limit
		// makes the garbage collector keep the whole process near it, as
		// the collector's own deployment guidance recommends (80% of the
		// limit).
		cmd.Env = append(os.Environ(), fmt.Sprintf("GOMEMLIMIT=%dMiB", p.MemLimitMiB*8/10))
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	c := &collector{cmd: cmd, otlpAddr: fmt.Sprintf("127.0.0.1:%d", otlpPort), metricsAddr: fmt.Sprintf("127.0.0.1:%d", metricsPort), logPath: logPath}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", c.otlpAddr, time.Second)
		if err == nil {
			conn.Close()
			return c, nil
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			c.stop()
			return nil, fmt.Errorf("collector %s did not start (see %s)", p.Name, logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *collector) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits for a clean exit (the collector flushes).
func (c *collector) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// metric sums every sample of the named Prometheus metric the collector
// exposes about itself.
func (c *collector) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + c.metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue // a longer metric name with this prefix
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}
