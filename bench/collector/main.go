// Command collector is Crosshair's collector-level benchmark harness
// (`make bench`): it starts the built otelcol-crosshair, drives OTLP load
// from a generator in a second process on loopback, samples the collector's
// CPU (/proc/<pid>/stat) and RSS, and reports every figure as a ratio
// against a baseline measured in the same run.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "loadgen" {
		if err := runLoadgen(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}
	bin := flag.String("bin", "_build/otelcol-crosshair", "collector binary")
	runs := flag.String("runs", "idle,load,ceiling,memlimit", "runs to do, comma separated")
	window := flag.Duration("window", 30*time.Second, "measurement window of the idle and load runs")
	step := flag.Duration("step", 8*time.Second, "duration of one ceiling step")
	shape := flag.String("shape", "stock", "load shape: stock (a stock Go service's requests) or host (the previous rounds': a node without kernel events, 5-tuples on the spans)")
	paired := flag.Bool("paired", true, "load run: drive the baseline and the Crosshair collector at the same time, each with its own generator and sink, so both are measured under the same machine conditions (false: one after the other, as before round 3)")
	profile := flag.String("profile", "", "directory for CPU and allocation profiles of both collectors during the load run (pprof extension; the profiler adds its own CPU)")
	repeat := flag.Int("repeat", 3, "load run: how many paired runs; the target is judged on the median CPU ratio (issue 15's acceptance: the median of 3)")
	flag.Parse()

	h, err := newHarness(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	h.profileDir = *profile
	h.shape = *shape
	h.paired = *paired
	if *repeat < 1 {
		fmt.Fprintf(os.Stderr, "-repeat must be at least 1, got %d\n", *repeat)
		os.Exit(2)
	}
	h.repeat = *repeat
	fmt.Printf("# otelcol-crosshair collector benchmark, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	failed := false
	for _, run := range strings.Split(*runs, ",") {
		var err error
		switch run {
		case "idle":
			err = h.idle(*window)
		case "load":
			err = h.loadRepeated(10_000, *window)
		case "ceiling":
			err = h.ceiling(*step)
		case "memlimit":
			err = h.memlimit()
		default:
			err = fmt.Errorf("unknown run %q", run)
		}
		if err != nil {
			fmt.Printf("\n**run %s failed: %v**\n", run, err)
			failed = true
		}
	}
	h.close()
	if failed {
		os.Exit(1)
	}
}

type harness struct {
	bin     string
	dir     string
	traffic *loopbackTraffic
	// profileDir, when set, receives both collectors' profiles
	// of the load run.
	profileDir string
	shape      string // the load generator's -shape
	paired     bool   // load: both pipelines at once (see bothPipelines)
	repeat     int    // load: paired runs, judged on their median
}

func newHarness(bin string) (*harness, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("collector binary: %w (run make build)", err)
	}
	dir, err := os.MkdirTemp("", "crosshair-bench-")
	if err != nil {
		return nil, err
	}
	t, err := startLoopbackTraffic(100)
	if err != nil {
		return nil, err
	}
	return &harness{bin: bin, dir: dir, traffic: t}, nil
}

func (h *harness) close() {
	h.traffic.stop()
	_ = os.RemoveAll(h.dir)
}

// measure starts p, waits settle, samples for window, stops it.
func (h *harness) measureIdle(p pipeline, settle, window time.Duration) (usage, error) {
	c, err := startCollector(h.bin, h.dir, p)
	if err != nil {
		return usage{}, err
	}
	defer c.stop()
	time.Sleep(settle)
	s, err := startSampler(c.pid(), 500*time.Millisecond)
	if err != nil {
		return usage{}, err
	}
	time.Sleep(window)
	return s.finish()
}

func (h *harness) idle(window time.Duration) error {
	// Idle means idle: no spans and none of the harness's own traffic.
	h.traffic.paused.Store(true)
	defer h.traffic.paused.Store(false)
	base, err := h.measureIdle(pipeline{Name: "idle-stock"}, 5*time.Second, window)
	if err != nil {
		return err
	}
	join, err := h.measureIdle(pipeline{Name: "idle-crosshair", Join: true}, 5*time.Second, window)
	if err != nil {
		return err
	}
	fmt.Printf("## 1. Idle (%s window)\n\n", window)
	fmt.Println("| pipeline | CPU % of one core | RSS mean MiB | RSS max MiB |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| otlp → batch → debug (baseline) | %.2f | %.1f | %.1f |\n", base.CPUPercent, base.RSSMeanMiB, base.RSSMaxMiB)
	fmt.Printf("| every probe + isolation_join | %.2f | %.1f | %.1f |\n", join.CPUPercent, join.RSSMeanMiB, join.RSSMaxMiB)
	fmt.Printf("| ratio | %.2f× | %.2f× | %.2f× |\n\n", ratio(join.CPUPercent, base.CPUPercent), ratio(join.RSSMeanMiB, base.RSSMeanMiB), ratio(join.RSSMaxMiB, base.RSSMaxMiB))
	fmt.Printf("Targets: CPU ≤ 1%% of a core: %s; RSS ≤ 80 MiB: %s.\n\n", verdict(join.CPUPercent <= 1), verdict(join.RSSMaxMiB <= 80))
	return nil
}

// loadRun is the outcome of one load phase.
type loadRun struct {
	usage
	gen      loadResult
	received int64
	where    string // the collector's counters, when spans did not reach the sink
	// holdMs is the mean time a batch spent in isolation_join, arrival to
	// release (its latency histogram), for a Crosshair pipeline: how long
	// spans sat in memory, which the held heap (the RSS ratio) scales
	// with. Negative when not read.
	holdMs float64
}

// drive runs the generator at rate for d against a fresh collector of p
// that exports to a fresh sink, then waits for the sink to drain.
func (h *harness) drive(p pipeline, rate int, d time.Duration) (loadRun, error) {
	sk, err := startSink()
	if err != nil {
		return loadRun{}, err
	}
	defer sk.stop()
	p.SinkAddr = sk.addr()
	profiling := h.profileDir != ""
	if profiling {
		port, err := freePort()
		if err != nil {
			return loadRun{}, err
		}
		p.PprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	c, err := startCollector(h.bin, h.dir, p)
	if err != nil {
		return loadRun{}, err
	}
	defer c.stop()
	time.Sleep(3 * time.Second)
	s, err := startSampler(c.pid(), 500*time.Millisecond)
	if err != nil {
		return loadRun{}, err
	}
	var prof *profiler
	if profiling {
		prof = startProfile(p.PprofAddr, h.profileDir, p.Name, d)
	}
	gen, err := h.generate(c.otlpAddr, rate, d)
	if err != nil {
		return loadRun{}, err
	}
	u, err := s.finish()
	if err != nil {
		return loadRun{}, err
	}
	if prof != nil {
		if err := prof.wait(); err != nil {
			return loadRun{}, err
		}
		// Allocations since start (the pprof extension's allocs profile).
		if err := fetchTo("http://"+p.PprofAddr+"/debug/pprof/allocs", filepath.Join(h.profileDir, p.Name+".allocs.pprof"), 30*time.Second); err != nil {
			return loadRun{}, err
		}
	}
	// A loaded machine delivers late, not never: wait up to 30s.
	drainUntil(func() bool { return sk.spans.Load() >= gen.Acked }, 30*time.Second)
	r := loadRun{usage: u, gen: gen, received: sk.spans.Load(), holdMs: -1}
	if p.Join {
		r.holdMs = c.meanHoldMs()
	}
	if r.received < gen.Acked {
		r.where = c.whereSpansAre()
	}
	return r, nil
}

// meanHoldMs is the mean of isolation_join's latency histogram in
// milliseconds, -1 when the collector does not report it.
func (c *collector) meanHoldMs() float64 {
	const name = "otelcol_processor_isolation_join_latency"
	sum, err1 := c.metric(name + "_sum")
	n, err2 := c.metric(name + "_count")
	if err1 != nil || err2 != nil || n == 0 {
		return -1
	}
	return 1000 * sum / n
}

// whereSpansAre reads the collector's own counters that say where spans
// it acknowledged are (still held, queued, dropped), for a run whose sink
// did not get them all.
func (c *collector) whereSpansAre() string {
	var parts []string
	for _, m := range []string{
		"otelcol_processor_isolation_join_pending_spans",
		"otelcol_processor_isolation_join_spans_dropped",
		"otelcol_processor_isolation_join_spans_released_early",
		"otelcol_exporter_queue_size",
		"otelcol_exporter_send_failed_spans",
		"otelcol_exporter_sent_spans",
	} {
		if v, err := c.metric(m); err == nil {
			parts = append(parts, fmt.Sprintf("%s=%.0f", strings.TrimPrefix(m, "otelcol_"), v))
		}
	}
	return strings.Join(parts, ", ")
}

func drainUntil(done func() bool, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

// generate runs the load generator in a second process.
func (h *harness) generate(endpoint string, rate int, d time.Duration) (loadResult, error) {
	self, err := os.Executable()
	if err != nil {
		return loadResult{}, err
	}
	cmd := exec.Command(self, "loadgen", "-endpoint", endpoint, "-rate", fmt.Sprint(rate), "-duration", d.String(), "-peer-port", fmt.Sprint(h.traffic.port), "-shape", h.shape)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("loadgen: %w", err)
	}
	var res loadResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return loadResult{}, fmt.Errorf("loadgen output %q: %w", out.String(), err)
	}
	return res, nil
}

// bothPipelines drives the baseline and the Crosshair pipeline, at the
// same time when h.paired. On a shared 2-vCPU machine one collector's CPU
// moves by ±15% from one window to the next (other tenants, steal): run
// one after the other, that noise lands on the ratio; run together, both
// see the same machine, and the ratio is what the join adds. (The
// Crosshair collector's probes then also see the baseline's syscalls and
// connections: the node's activity is its work, as on a real node.)
func (h *harness) bothPipelines(rate int, d time.Duration) (base, join loadRun, err error) {
	basePipe, joinPipe := pipeline{Name: "load-stock"}, pipeline{Name: "load-crosshair", Join: true}
	if !h.paired {
		if base, err = h.drive(basePipe, rate, d); err != nil {
			return base, join, err
		}
		join, err = h.drive(joinPipe, rate, d)
		return base, join, err
	}
	var baseErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		base, baseErr = h.drive(basePipe, rate, d)
	}()
	join, err = h.drive(joinPipe, rate, d)
	<-done
	return base, join, errors.Join(baseErr, err)
}

// loadRepeated does h.repeat load runs and judges the target on the median
// of their CPU ratios: one 20 s window on a shared 2-vCPU machine moves the
// ratio by ±0.05 (docs/performance.md §2), the median of several does not
// hang on one unlucky window.
func (h *harness) loadRepeated(rate int, d time.Duration) error {
	var ratios []float64
	var errs []error
	for i := range h.repeat {
		if h.repeat > 1 {
			fmt.Printf("### load run %d of %d\n\n", i+1, h.repeat)
		}
		r, err := h.load(rate, d)
		if err != nil {
			errs = append(errs, fmt.Errorf("load run %d: %w", i+1, err))
			continue
		}
		ratios = append(ratios, r)
	}
	if h.repeat > 1 && len(ratios) > 0 {
		m := median(ratios)
		fmt.Printf("## 2. Median of %d load runs: CPU %.2f× (runs: %s)\n\n", len(ratios), m, formatRatios(ratios))
		fmt.Printf("Target (issue 15): join CPU ≤ 1.2× baseline, median of the runs: %s.\n\n", verdict(m <= 1.2))
	}
	return errors.Join(errs...)
}

// median is the middle of xs (the mean of the two middle ones for an even
// count).
func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func formatRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f×", x)
	}
	return strings.Join(parts, ", ")
}

// load does one paired load run, prints its table and returns its CPU
// ratio (join over baseline).
func (h *harness) load(rate int, d time.Duration) (float64, error) {
	base, join, err := h.bothPipelines(rate, d)
	if err != nil {
		return 0, err
	}
	mode := "one after the other"
	if h.paired {
		mode = "both at once"
	}
	fmt.Printf("## 2. %d spans/s for %s (load shape %s; 20 attributes per span; pipelines measured %s)\n\n", rate, d, h.shape, mode)
	fmt.Println("| pipeline | CPU % of one core | RSS mean MiB | RSS max MiB | spans acked | spans at sink | in = out |")
	fmt.Println("|---|---|---|---|---|---|---|")
	row := func(name string, r loadRun) {
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %d | %d | %s |\n", name, r.CPUPercent, r.RSSMeanMiB, r.RSSMaxMiB, r.gen.Acked, r.received, verdict(r.gen.Acked == r.received))
	}
	row("otlp → batch → otlp (baseline)", base)
	row("otlp → isolation_join → batch → otlp, ebpf loaded", join)
	cpu := ratio(join.CPUPercent, base.CPUPercent)
	fmt.Printf("| ratio | %.2f× | %.2f× | %.2f× | | | |\n\n", cpu, ratio(join.RSSMeanMiB, base.RSSMeanMiB), ratio(join.RSSMaxMiB, base.RSSMaxMiB))
	if join.holdMs >= 0 {
		fmt.Printf("isolation_join held a batch %.0f ms on average (arrival to release).\n\n", join.holdMs)
	}
	if h.repeat == 1 {
		fmt.Printf("Target (issue 15): join CPU ≤ 1.2× baseline: %s.\n\n", verdict(cpu <= 1.2))
	}
	for _, r := range []loadRun{base, join} {
		if r.where != "" {
			fmt.Printf("Spans missing at the sink after the drain; the collector's counters: %s\n\n", r.where)
		}
	}
	if base.gen.Acked != base.received || join.gen.Acked != join.received {
		return cpu, fmt.Errorf("spans lost: baseline %d→%d, join %d→%d", base.gen.Acked, base.received, join.gen.Acked, join.received)
	}
	return cpu, nil
}

// sustained reports whether a run kept up: nearly everything offered was
// accepted and everything accepted reached the sink.
func sustained(r loadRun) bool {
	return r.gen.Refused == 0 && r.gen.Acked >= r.gen.Sent*97/100 && r.received >= r.gen.Acked
}

func (h *harness) ceilingOf(p pipeline, step time.Duration) (int, []string) {
	var trail []string
	best := 0
	for _, rate := range []int{10_000, 20_000, 30_000, 40_000, 60_000, 80_000, 100_000, 130_000, 160_000} {
		r, err := h.drive(p, rate, step)
		if err != nil {
			trail = append(trail, fmt.Sprintf("%dk: error %v", rate/1000, err))
			break
		}
		ok := sustained(r)
		trail = append(trail, fmt.Sprintf("%dk: %s (acked %d/%d, sink %d, CPU %.0f%%)", rate/1000, map[bool]string{true: "kept up", false: "fell behind"}[ok], r.gen.Acked, r.gen.Sent, r.received, r.CPUPercent))
		if !ok {
			break
		}
		best = rate
	}
	return best, trail
}

func (h *harness) ceiling(step time.Duration) error {
	base, baseTrail := h.ceilingOf(pipeline{Name: "ceiling-stock"}, step)
	join, joinTrail := h.ceilingOf(pipeline{Name: "ceiling-crosshair", Join: true}, step)
	fmt.Printf("## 3. Ceiling (highest rate kept up for %s; generator and collector share the machine)\n\n", step)
	fmt.Println("| pipeline | ceiling spans/s | steps |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| otlp → batch → otlp (baseline) | %d | %s |\n", base, strings.Join(baseTrail, "; "))
	fmt.Printf("| otlp → isolation_join → batch → otlp, ebpf loaded | %d | %s |\n", join, strings.Join(joinTrail, "; "))
	fmt.Printf("| ratio | %.2f× | |\n\n", ratio(float64(join), float64(base)))
	fmt.Printf("Target: ceiling with the join ≥ 0.8× without: %s.\n\n", verdict(ratio(float64(join), float64(base)) >= 0.8))
	return nil
}

// memlimit backs the pipeline up by stopping the sink, so the memory
// limiter engages; then brings the sink back and checks that everything
// the receiver acknowledged arrives.
func (h *harness) memlimit() error {
	const limitMiB = 200
	sk, err := startSink()
	if err != nil {
		return err
	}
	defer sk.stop()
	sk.down.Store(true)
	c, err := startCollector(h.bin, h.dir, pipeline{Name: "memlimit", Join: true, MemLimitMiB: limitMiB, SinkAddr: sk.addr()})
	if err != nil {
		return err
	}
	defer c.stop()
	time.Sleep(3 * time.Second)
	s, err := startSampler(c.pid(), 200*time.Millisecond)
	if err != nil {
		return err
	}
	gen, err := h.generate(c.otlpAddr, 20_000, 30*time.Second)
	if err != nil {
		return err
	}
	refusedByCollector, _ := c.metric("otelcol_receiver_refused_spans")
	sk.down.Store(false)
	drainUntil(func() bool { return sk.spans.Load() >= gen.Acked }, 120*time.Second)
	u, err := s.finish()
	if err != nil {
		return err
	}
	received := sk.spans.Load()
	fmt.Printf("## 4. Memory limiter engaged (sink down for 30s at 20k spans/s, limit %d MiB)\n\n", limitMiB)
	fmt.Println("| RSS max MiB | limit MiB | spans offered | acked | refused (client) | refused (collector telemetry) | delivered after sink returned | lost |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	fmt.Printf("| %.1f | %d | %d | %d | %d | %.0f | %d | %d |\n\n", u.RSSMaxMiB, limitMiB, gen.Sent, gen.Acked, gen.Refused, refusedByCollector, received, gen.Acked-received)
	fmt.Printf("RSS under the limit: %s; refusals counted: %s; nothing acknowledged lost: %s.\n\n", verdict(u.RSSMaxMiB <= limitMiB), verdict(refusedByCollector > 0), verdict(received >= gen.Acked))
	if received < gen.Acked {
		return fmt.Errorf("%d acknowledged spans lost", gen.Acked-received)
	}
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// loopbackTraffic keeps real TCP connections opening and closing on
// loopback so the ebpf receiver has kernel events to index while spans
// flow; the spans name its port as their peer.
type loopbackTraffic struct {
	ln     net.Listener
	port   int
	done   chan struct{}
	paused atomic.Bool
}

func startLoopbackTraffic(perSecond int) (*loopbackTraffic, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &loopbackTraffic{ln: ln, port: ln.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	go func() {
		tk := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tk.Stop()
		for {
			select {
			case <-t.done:
				return
			case <-tk.C:
				if t.paused.Load() {
					continue
				}
				if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
					_, _ = c.Write([]byte("ping"))
					c.Close()
				}
			}
		}
	}()
	return t, nil
}

func (t *loopbackTraffic) stop() {
	close(t.done)
	t.ln.Close()
}
