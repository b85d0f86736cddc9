package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crosshair-otel/crosshair/e2e/lab"
)

// Targets (docs/design.md §7, issue 8).
const (
	minPrecision  = 0.95
	minRecall     = 0.90
	maxBaselineFP = 0.01
	minReportsOK  = 0.90
	// Below this many reports on positive traces the share is not judged:
	// reports are for traces over the exporter's slow_threshold (20ms),
	// and a fault that slows its hop by less (gvisor on a quiet machine:
	// order's spans 5–10ms) leaves only a few traces that a second stall
	// also slowed, two of which decided a run (1 of 2 right). Such a
	// scenario must still have a report naming the right hop and layer.
	minReportsJudged = 10
	minPositives     = 20
	// Every demo span comes from a process on this node (issue 12).
	minJoined = 0.99
	// A request whose own fsync spent this long in the storage stack, or
	// whose CPU work sat off-CPU this long (or half its span, see
	// slowedBy), really spent that time in the layer: the collector's own
	// bar for naming a layer (classify MinTime).
	explainFloor = 3 * time.Millisecond
)

// Phase lengths; CHX_E2E_PHASE_SCALE stretches or shrinks them.
var (
	noFaultPhase = 15 * time.Second
	faultPhase   = 20 * time.Second
	warmup       = 2 * time.Second
	guard        = 2 * time.Second
)

// scenario is one seed incident.
type scenario struct {
	name     string
	expected string // isolation.layer on the faulted hop's slow spans
	hop      lab.Service
	hopKind  int
	// evidence the true positives must carry (issue 8's table), and its legend.
	evidence     func(*Span) bool
	evidenceText string
	// flags per service name, added to `chx-demo serve`.
	flags map[string][]string
	setup func(h *harness) error // before the services start
	// noFault runs when the no-fault phase starts (baseline readings).
	noFault func(h *harness)
	inject  func(h *harness) error
	remove  func(h *harness) error
	notes   func(h *harness, noFault, fault Window) []string
	// optIn: runs only when CHX_E2E_SCENARIOS names it (not yet at its targets).
	optIn bool
}

func scenarios() []scenario {
	return []scenario{
		{name: "baseline", expected: "app"},
		{
			name: "loss", expected: "L3", hop: lab.Order, hopKind: KindClient,
			evidence: func(s *Span) bool {
				return s.Num("kernel.tcp.retransmits") > 0 && strings.Contains(s.Cause(), "NETFILTER_DROP")
			},
			evidenceText: "kernel.tcp.retransmits > 0 and isolation.cause names NETFILTER_DROP",
			inject:       func(h *harness) error { return lab.AddDrop(20) },
			remove:       func(h *harness) error { return lab.RemoveDrop() },
		},
		{
			name: "cpu", expected: "L3", hop: lab.Payment, hopKind: KindServer,
			evidence: func(s *Span) bool {
				return s.Num("kernel.cgroup.cpu.throttled_ms") > 0 && strings.Contains(strings.ToLower(s.Cause()), "throttl")
			},
			evidenceText: "kernel.cgroup.cpu.throttled_ms > 0 and isolation.cause names the cgroup throttling",
			flags:        map[string][]string{"payment": {"-cpu-work", "4ms"}},
			inject: func(h *harness) error {
				h.cpuBefore = lab.CPUStat("payment")
				return lab.SetCPUQuota("payment", 10*time.Millisecond, 100*time.Millisecond)
			},
			remove: func(h *harness) error {
				h.cpuAfter = lab.CPUStat("payment")
				return lab.SetCPUQuota("payment", -1, 100*time.Millisecond)
			},
			notes: func(h *harness, _, _ Window) []string {
				return []string{fmt.Sprintf("payment cgroup cpu.stat during the fault: nr_throttled +%d, throttled_time +%s",
					h.cpuAfter["nr_throttled"]-h.cpuBefore["nr_throttled"], time.Duration(h.cpuAfter["throttled_time"]-h.cpuBefore["throttled_time"]))}
			},
		},
		{
			name: "sandbox", expected: "L4", hop: lab.Order, hopKind: KindClient,
			evidence:     func(s *Span) bool { return s.Num("kernel.syscall.slow_ms") >= 50 },
			evidenceText: "kernel.syscall.slow_ms ≥ 50",
			inject: func(h *harness) error {
				h.stopService("order")
				return h.startService(lab.Order, true)
			},
		},
		{
			name: "disk", expected: "L2", hop: lab.Payment, hopKind: KindServer,
			evidence:     func(s *Span) bool { return strings.Contains(s.Cause(), lab.Prefix+"neighbour") },
			evidenceText: "isolation.cause names the neighbour cgroup (" + lab.Prefix + "neighbour)",
			flags:        map[string][]string{"payment": {"-fsync-file", lab.DiskMount + "/payment/ledger"}},
			setup: func(h *harness) error {
				dev, err := lab.SetupDisk()
				h.disk = dev
				return err
			},
			noFault: func(h *harness) {
				h.diskQuiet[0], h.diskQuiet[1] = lab.DiskStat(h.disk)
				_, h.backQuiet[0], h.backQuiet[1] = lab.BackingStat()
			},
			inject: func(h *harness) error {
				h.diskBefore[0], h.diskBefore[1] = lab.DiskStat(h.disk)
				_, h.backBefore[0], h.backBefore[1] = lab.BackingStat()
				return h.startNeighbour()
			},
			remove: func(h *harness) error {
				h.diskAfter[0], h.diskAfter[1] = lab.DiskStat(h.disk)
				h.backDev, h.backAfter[0], h.backAfter[1] = lab.BackingStat()
				h.stopProc("neighbour")
				return nil
			},
			notes: func(h *harness, _, _ Window) []string {
				line := func(dev, phase string, a, b [2]int64) string {
					w, ms := b[0]-a[0], b[1]-a[1]
					avg := 0.0
					if w > 0 {
						avg = float64(ms) / float64(w)
					}
					return fmt.Sprintf("%s %s: %d writes completed, %.2f ms average write latency (/sys/block stat)", dev, phase, w, avg)
				}
				return []string{
					line(h.disk, "without the neighbour", h.diskQuiet, h.diskBefore),
					line(h.disk, "with the neighbour flooding", h.diskBefore, h.diskAfter),
					line("backing "+h.backDev, "without the neighbour", h.backQuiet, h.backBefore),
					line("backing "+h.backDev, "with the neighbour flooding", h.backBefore, h.backAfter),
				}
			},
		},
		gvisorScenario(),
	}
}

type harness struct {
	t         *testing.T
	bin       string // chx-demo
	collector string
	out       string
	sc        *scenario

	mu    sync.Mutex
	procs map[string]*exec.Cmd

	cpuBefore, cpuAfter     map[string]int64
	disk                    string
	diskBefore, diskAfter   [2]int64
	backDev                 string
	backBefore, backAfter   [2]int64
	diskQuiet, backQuiet    [2]int64
	gvisor                  string // the service started inside runsc (gvisor.go)
	requests, requestErrors atomic.Int64
}

func scale() {
	if v := os.Getenv("CHX_E2E_PHASE_SCALE"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			noFaultPhase = time.Duration(float64(noFaultPhase) * f)
			faultPhase = time.Duration(float64(faultPhase) * f)
		}
	}
}

func requireEnv(t *testing.T) {
	msg := ""
	if os.Geteuid() != 0 {
		msg = "needs root (namespaces, cgroups, nftables, loop devices, BPF)"
	}
	for _, tool := range []string{"ip", "nft", "ethtool", "losetup", "mkfs.ext4", "mount"} {
		if _, err := exec.LookPath(tool); err != nil && msg == "" {
			msg = "needs " + tool + " on PATH"
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err != nil && msg == "" {
		msg = "needs the cgroup v1 cpu hierarchy at /sys/fs/cgroup/cpu"
	}
	if msg != "" {
		if os.Getenv("CROSSHAIR_REQUIRE_BPF") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func TestE2E(t *testing.T) {
	requireEnv(t)
	scale()
	start := time.Now()
	root, _ := filepath.Abs("..")
	collector := os.Getenv("CHX_E2E_COLLECTOR")
	if collector == "" {
		collector = filepath.Join(root, "_build", "otelcol-crosshair")
	}
	if _, err := os.Stat(collector); err != nil {
		t.Fatalf("collector binary: %v (run make build)", err)
	}
	out := os.Getenv("CHX_E2E_OUT")
	if out == "" {
		out = filepath.Join(root, "e2e", "_out")
	}
	_ = os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(out, "chx-demo")
	if b, err := exec.Command("go", "build", "-o", bin, "./cmd/chx-demo").CombinedOutput(); err != nil {
		t.Fatalf("build chx-demo: %v\n%s", err, b)
	}

	want := map[string]bool{}
	for _, n := range strings.Split(os.Getenv("CHX_E2E_SCENARIOS"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}

	// Leftovers of a killed run, then ours, whatever happens.
	if err := lab.Cleanup(); err != nil {
		t.Logf("cleanup of a previous run: %v", err)
	}
	h := &harness{t: t, bin: bin, collector: collector, out: out, procs: map[string]*exec.Cmd{}}
	t.Cleanup(func() {
		h.stopAll()
		if err := lab.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := lab.Setup(); err != nil {
		t.Fatalf("lab setup: %v", err)
	}
	for _, c := range []struct{ client, server lab.Service }{{lab.Frontend, lab.Order}, {lab.Order, lab.Payment}} {
		if addr, err := lab.Resolve(c.client.Netns, c.server.Host); err != nil || addr != c.server.VIP {
			t.Fatalf("%s resolves %q to %q (%v), want the virtual address %s", c.client.Netns, c.server.Host, addr, err, c.server.VIP)
		}
	}
	if err := h.startCollector(); err != nil {
		t.Fatalf("collector: %v", err)
	}
	demo := startDemo(t, out) // `make demo`: the view's URL and one line per diagnosed trace

	type ran struct {
		sc             scenario
		noFault, fault Window
		notes          []string
	}
	var runs []ran
	for _, sc := range scenarios() {
		if (len(want) > 0 && !want[sc.name]) || (len(want) == 0 && sc.optIn) {
			continue
		}
		t.Logf("scenario %s: start", sc.name)
		nf, f, notes, err := h.runScenario(sc)
		if err != nil {
			t.Fatalf("scenario %s: %v", sc.name, err)
		}
		runs = append(runs, ran{sc, nf, f, notes})
	}
	demo.wait() // `make demo`: the page stays up until Ctrl-C
	// Stopping the collector flushes held spans and pending reports.
	h.stopProc("collector")

	spans, err := ReadSpans(filepath.Join(out, "spans.jsonl"))
	if err != nil {
		t.Fatalf("reading spans: %v", err)
	}
	reports, err := ReadReports(filepath.Join(out, "diagnosis.jsonl"))
	if err != nil {
		t.Fatalf("reading reports: %v", err)
	}
	truth, err := ReadTruth(out)
	if err != nil {
		t.Fatalf("reading the services' measurements: %v", err)
	}
	t.Logf("%d spans, %d diagnosis reports, %d requests (%d failed), %d requests measured by payment", len(spans), len(reports), h.requests.Load(), h.requestErrors.Load(), len(truth))

	var results []*Result
	var detail strings.Builder
	shots := newViewShots(t, collector, out)
	for _, r := range runs {
		hop := Hop{Service: r.sc.hop.Name, Kind: r.sc.hopKind}
		explained := slowedBy(truth, explainFloor)
		res := Score(r.sc.name, r.sc.expected, hop, spans, r.noFault, r.fault, reports, r.sc.evidence, explained)
		res.Evidence = r.sc.evidenceText
		res.Notes = r.notes
		results = append(results, res)
		shots.take(res, r.fault, spans) // the crosshair view of a positive trace, checked in Chromium
		if hop.Service != "" {
			fmt.Fprintf(&detail, "%s: %s span durations, no fault (p99 %s):\n%s", r.sc.name, hop, res.BaselineP99.Round(10*time.Microsecond), Histogram(HopDurations(spans, r.noFault, hop)))
			fmt.Fprintf(&detail, "%s: %s span durations, fault (p99 %s):\n%s", r.sc.name, hop, res.FaultHopP99.Round(10*time.Microsecond), Histogram(HopDurations(spans, r.fault, hop)))
			fmt.Fprintf(&detail, "%s: verdicts on the fault phase's positives: %s\n", r.sc.name, verdicts(spans, r.fault, hop, res.BaselineP99))
			fmt.Fprintf(&detail, "%s: false positives (negatives tagged %s) by span: %s\n", r.sc.name, r.sc.expected, falsePositives(spans, r.fault, hop, res.BaselineP99, r.sc.expected))
		}
		if res.BaselineSpans > 0 {
			fmt.Fprintf(&detail, "%s: no-fault phase, top causes of spans tagged other than app:%s\n", r.sc.name, topCauses(PhaseSpans(spans, r.noFault), 3))
		}
		for _, n := range res.Notes {
			fmt.Fprintf(&detail, "%s: %s\n", r.sc.name, n)
		}
	}
	table := Table(results)
	fmt.Printf("\n%s\n%s\n", detail.String(), table)
	_ = os.WriteFile(filepath.Join(out, "results.txt"), []byte(detail.String()+"\n"+table), 0o644)

	for _, r := range results {
		if r.BaselineSpans == 0 {
			t.Errorf("%s: no spans in the no-fault phase: the pipeline lost them", r.Scenario)
			continue
		}
		if r.JoinedShare() < minJoined {
			t.Errorf("%s: %.2f%% of the spans joined (isolation.join other than unmatched; target ≥ %.0f%%): %s", r.Scenario, 100*r.JoinedShare(), 100*minJoined, r.JoinCounts())
		}
		// Every no-fault phase is a baseline: a layer blamed there without
		// a measured wait in it is a false page, whatever the scenario.
		if r.BaselineFPRate() > maxBaselineFP {
			t.Errorf("%s: %.2f%% of the no-fault phase's spans tagged with a layer other than app and not explained by a measured wait (target ≤ %.0f%%; %d more explained)", r.Scenario, 100*r.BaselineFPRate(), 100*maxBaselineFP, r.BaselineExpl)
		}
		if r.Scenario == "baseline" {
			continue
		}
		if r.Positives < minPositives {
			t.Errorf("%s: only %d of %d %s spans slower than the no-fault p99 %s: the fault did not slow the hop", r.Scenario, r.Positives, r.FaultHop, r.Hop, r.BaselineP99)
			continue
		}
		if r.Precision() < minPrecision || r.Recall() < minRecall {
			t.Errorf("%s: precision %.1f%% (target ≥ %.0f%%), recall %.1f%% (target ≥ %.0f%%) of isolation.layer=%s", r.Scenario, 100*r.Precision(), 100*minPrecision, 100*r.Recall(), 100*minRecall, r.Expected)
		}
		if r.TP > 0 && float64(r.EvidenceOK)/float64(r.TP) < minRecall {
			t.Errorf("%s: only %d of %d true positives carry the evidence: %s", r.Scenario, r.EvidenceOK, r.TP, r.Evidence)
		}
		switch {
		case r.Reports == 0:
			t.Errorf("%s: no diagnosis report for a trace with a positive span", r.Scenario)
		case r.Reports < minReportsJudged:
			t.Logf("%s: %d reports on positive traces, too few to judge their share (≥ %d); %d name the hop %s and the layer %s", r.Scenario, r.Reports, minReportsJudged, r.ReportsBothOK, r.Hop, r.Expected)
			if r.ReportsBothOK == 0 {
				t.Errorf("%s: none of the %d reports on positive traces names the hop %s and the layer %s", r.Scenario, r.Reports, r.Hop, r.Expected)
			}
		case float64(r.ReportsHopOK)/float64(r.Reports) < minReportsOK || float64(r.ReportsLayerOK)/float64(r.Reports) < minReportsOK:
			t.Errorf("%s: of %d reports on positive traces, %d name the hop %s and %d the layer %s (target ≥ %.0f%% each)", r.Scenario, r.Reports, r.ReportsHopOK, r.Hop, r.ReportsLayerOK, r.Expected, 100*minReportsOK)
		}
	}
	t.Logf("e2e finished in %s; artefacts in %s", time.Since(start).Round(time.Second), out)
}

// verdicts counts the layers on the hop's positive spans of a phase.
func verdicts(spans []Span, w Window, hop Hop, p99 time.Duration) string {
	counts := map[string]int{}
	for _, s := range PhaseSpans(spans, w) {
		if hop.Match(s) && s.Duration() > p99 {
			l := s.Layer()
			if l == "" {
				l = "(none)"
			}
			counts[l]++
		}
	}
	var parts []string
	for l, n := range counts {
		parts = append(parts, fmt.Sprintf("%s=%d", l, n))
	}
	return strings.Join(parts, " ")
}

var digits = regexp.MustCompile(`\b[0-9][0-9.]*`)

// topCauses lists the n most frequent isolation.cause lines (numbers
// folded) among spans tagged with a layer other than app.
func topCauses(spans []*Span, n int) string {
	counts := map[string]int{}
	for _, s := range spans {
		if tagged(s) {
			counts[s.Layer()+" ← "+digits.ReplaceAllString(s.Cause(), "N")]++
		}
	}
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, c := range counts {
		all = append(all, kv{k, c})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	var b strings.Builder
	for i := 0; i < len(all) && i < n; i++ {
		fmt.Fprintf(&b, "\n      %5d× %s", all[i].n, all[i].k)
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// falsePositives counts the negatives tagged with the expected layer, by
// service and span kind.
func falsePositives(spans []Span, w Window, hop Hop, p99 time.Duration, expected string) string {
	counts := map[string]int{}
	for _, s := range PhaseSpans(spans, w) {
		if s.Layer() != expected || (hop.Match(s) && s.Duration() > p99) {
			continue
		}
		h := Hop{Service: s.Service, Kind: s.Kind}
		counts[h.String()]++
	}
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// runScenario starts the services, drives load through a no-fault phase and
// a fault phase, and stops everything the scenario started.
func (h *harness) runScenario(sc scenario) (noFault, fault Window, notes []string, err error) {
	h.sc = &sc
	defer func() {
		h.stopService("frontend")
		h.stopService("order")
		h.stopService("payment")
		h.stopProc("neighbour")
	}()
	if sc.setup != nil {
		if err = sc.setup(h); err != nil {
			return
		}
	}
	for _, s := range lab.Services {
		if err = h.startService(s, false); err != nil {
			return
		}
	}
	if err = waitHTTP(lab.FrontendURL, 15*time.Second); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	h.load(ctx, &wg, 2, 30*time.Millisecond)
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(warmup)
	requestsBefore := h.requests.Load()
	if sc.noFault != nil {
		sc.noFault(h)
	}
	noFault.From = time.Now()
	time.Sleep(noFaultPhase)
	noFault.To = time.Now()
	notes = append(notes, h.poolNote(requestsBefore))
	if sc.inject == nil {
		return
	}
	h.t.Logf("scenario %s: injecting the fault", sc.name)
	if err = sc.inject(h); err != nil {
		return
	}
	fault.From = time.Now().Add(guard)
	time.Sleep(guard + faultPhase)
	fault.To = time.Now()
	if sc.remove != nil {
		if err = sc.remove(h); err != nil {
			return
		}
	}
	if sc.notes != nil {
		notes = append(notes, sc.notes(h, noFault, fault)...)
	}
	// Let the last traces finish before the services stop.
	cancel()
	wg.Wait()
	time.Sleep(time.Second)
	return
}

// poolNote says how many connections carried the no-fault phase's
// requests on each hop: the clients' pooled keep-alive connections.
func (h *harness) poolNote(requestsBefore int64) string {
	var parts []string
	for _, c := range []struct{ client, server lab.Service }{{lab.Frontend, lab.Order}, {lab.Order, lab.Payment}} {
		n, err := lab.Connections(c.client.Netns, c.server.VIPEndpoint())
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s→%s: %v", c.client.Name, c.server.Name, err))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s→%s %d", c.client.Name, c.server.Name, n))
	}
	return fmt.Sprintf("connections established to the Service addresses at the end of the no-fault phase (%d requests): %s",
		h.requests.Load()-requestsBefore, strings.Join(parts, ", "))
}

// load runs closed-loop clients against the frontend.
func (h *harness) load(ctx context.Context, wg *sync.WaitGroup, workers int, think time.Duration) {
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				h.requests.Add(1)
				resp, err := client.Get(lab.FrontendURL)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s", resp.Status)
					}
				}
				if err != nil {
					h.requestErrors.Add(1)
				}
				select {
				case <-ctx.Done():
				case <-time.After(think):
				}
			}
		}()
	}
}

func waitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", url, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *harness) logFile(name string) *os.File {
	f, err := os.OpenFile(filepath.Join(h.out, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	return f
}

func (h *harness) start(name string, cmd *exec.Cmd) error {
	log := h.logFile(name)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	h.mu.Lock()
	h.procs[name] = cmd
	h.mu.Unlock()
	return nil
}

func (h *harness) startService(s lab.Service, sandboxed bool) error {
	// By host name, through the Service's virtual address (lab/services.go).
	downstream := map[string]string{
		"frontend": lab.Order.URL("/order"),
		"order":    lab.Payment.URL("/pay"),
	}[s.Name]
	args := []string{"serve", "-name", s.Name, "-listen", s.Listen, "-otlp", fmt.Sprintf("%s:%d", s.HostAddr, lab.OTLPPort)}
	if downstream != "" {
		args = append(args, "-downstream", downstream)
	}
	if h.sc != nil {
		args = append(args, h.sc.flags[s.Name]...)
		if s.Name == lab.Payment.Name {
			args = append(args, "-truth", filepath.Join(h.out, "truth-"+h.sc.name+".jsonl"))
		}
	}
	argv := append([]string{"netns", "exec", s.Netns, h.bin}, args...)
	if sandboxed {
		// The supervisor holds each write on a connection to the payment
		// Service: on pooled connections that is every request order sends.
		argv = append([]string{"netns", "exec", s.Netns, h.bin, "sandbox", "-syscall", "write", "-peer", lab.Payment.VIPEndpoint(), "-wait", "50ms", "--", h.bin}, args...)
	}
	argv = h.gvisorArgv(s, argv)
	// launch joins the service's cgroups, then execs `ip netns exec`.
	argv = append([]string{"launch", "-cgroups", strings.Join(lab.CgroupDirs(s.Name), ","), "--", "ip"}, argv...)
	if err := h.start(s.Name, exec.Command(h.bin, argv...)); err != nil {
		return err
	}
	// Ready when it accepts connections.
	host := s.NsAddr
	_, port, _ := net.SplitHostPort(s.Listen)
	if s.Name != "frontend" {
		host, _, _ = net.SplitHostPort(s.Listen)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if s.Name == "frontend" {
			var c net.Conn
			c, err = net.DialTimeout("tcp", net.JoinHostPort(host, port), time.Second)
			if err == nil {
				c.Close()
			}
		} else {
			var o string
			o, err = lab.InNs(s.Netns, "ss", "-Hltn", "sport", "= :"+port)
			if err == nil && !strings.Contains(o, ":"+port) {
				err = fmt.Errorf("not listening")
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not come up: %v (see %s.log)", s.Name, err, s.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *harness) startNeighbour() error {
	return h.start("neighbour", exec.Command(h.bin, "neighbour", "-dir", lab.DiskMount+"/neighbour", "-direct", "3", "-fsync", "3",
		"-cgroups", strings.Join(lab.CgroupDirs("neighbour"), ",")))
}

func (h *harness) startCollector() error {
	cmd := exec.Command(h.collector, "--config", "collector.yaml")
	cmd.Env = append(os.Environ(), "CHX_E2E_DIR="+h.out)
	if err := h.start("collector", cmd); err != nil {
		return err
	}
	for _, d := range lab.CgroupDirs("collector") {
		_ = os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(h.out, "collector.log"))
		if strings.Contains(string(b), "Everything is ready") {
			return nil
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			return fmt.Errorf("collector not ready; log:\n%s", b)
		}
		if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
			return fmt.Errorf("collector exited; log:\n%s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (h *harness) stopService(name string) { h.stopProc(name) }

// stopProc sends SIGTERM (the services flush their spans, the collector its
// pipelines) and SIGKILL after a grace period.
func (h *harness) stopProc(name string) {
	h.mu.Lock()
	cmd := h.procs[name]
	delete(h.procs, name)
	h.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	if f, ok := cmd.Stdout.(*os.File); ok {
		f.Close()
	}
}

func (h *harness) stopAll() {
	h.mu.Lock()
	var names []string
	for n := range h.procs {
		names = append(names, n)
	}
	h.mu.Unlock()
	for _, n := range names {
		h.stopProc(n)
	}
}
