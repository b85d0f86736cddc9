package probes

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// Benchmarks of the host probes, measured on the real kernel (root):
//   - per-event kernel cost of each program (BPF run-time statistics:
//     run_time_ns / run_cnt), next to the equivalent bpftrace program
//     attached to the same tracepoints in the same run;
//   - the slowdown of syscall-heavy and context-switch-heavy loops with
//     every host probe loaded, against the same loop with none.
// The numbers go in receiver/ebpfreceiver/BENCHMARKS-host.md.

const (
	bpftraceRunqlat = `
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @qtime[args->pid] = nsecs; }
tracepoint:sched:sched_switch {
  if (args->prev_state == 0) { @qtime[args->prev_pid] = nsecs; }
  $ns = @qtime[args->next_pid];
  if ($ns) { @usecs = hist((nsecs - $ns) / 1000); }
  delete(@qtime[args->next_pid]);
}`
	bpftraceBiolatency = `
tracepoint:block:block_rq_issue { @start[args->dev, args->sector] = nsecs; }
tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ {
  @usecs = hist((nsecs - @start[args->dev, args->sector]) / 1000);
  delete(@start[args->dev, args->sector]);
}`
)

// programIDs lists the loaded BPF programs.
func programIDs(tb testing.TB) map[ebpf.ProgramID]bool {
	ids := map[ebpf.ProgramID]bool{}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return ids
		}
		if err != nil {
			tb.Fatal(err)
		}
		ids[next], id = true, next
	}
}

// progStats sums run time and run count of the programs in ids whose name
// satisfies keep.
type progStats struct{ ns, runs uint64 }

func (s progStats) perRun() float64 {
	if s.runs == 0 {
		return 0
	}
	return float64(s.ns) / float64(s.runs)
}

func statsOf(tb testing.TB, ids map[ebpf.ProgramID]bool, keep func(name string, typ ebpf.ProgramType) bool) progStats {
	var s progStats
	for id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err := p.Info()
		if err != nil || !keep(info.Name, info.Type) {
			_ = p.Close()
			continue
		}
		st, err := p.Stats()
		_ = p.Close()
		if err != nil {
			continue
		}
		s.ns += uint64(st.Runtime)
		s.runs += st.RunCount
	}
	return s
}

func newIDs(before, after map[ebpf.ProgramID]bool) map[ebpf.ProgramID]bool {
	out := map[ebpf.ProgramID]bool{}
	for id := range after {
		if !before[id] {
			out[id] = true
		}
	}
	return out
}

// startBpftrace runs script and returns once its probes are attached.
func startBpftrace(tb testing.TB, script string) (stop func()) {
	tb.Helper()
	cmd := exec.Command("bpftrace", "-e", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	tb.Cleanup(stop)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Attaching") {
			go func() {
				for sc.Scan() {
				}
			}()
			time.Sleep(300 * time.Millisecond) // attach completes after the line
			return stop
		}
	}
	tb.Fatalf("bpftrace did not attach: %v", sc.Err())
	return nil
}

// pinToCPU1 pins the calling OS thread to CPU 1 (ping-pong on one CPU:
// every round trip is two context switches there, and the timing does not
// depend on where the scheduler happens to place the two threads).
func pinToCPU1() {
	var set unix.CPUSet
	set.Set(1)
	_ = unix.SchedSetaffinity(0, &set)
}

// pingPong bounces a byte between two threads through pipes n times: two
// context switches per round trip, both threads pinned to one CPU.
func pingPong(n int) {
	var a, b [2]int
	_ = unix.Pipe(a[:])
	_ = unix.Pipe(b[:])
	defer func() {
		for _, fd := range []int{a[0], a[1], b[0], b[1]} {
			_ = unix.Close(fd)
		}
	}()
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread() // the pinned thread is dropped with its goroutine's lock
		pinToCPU1()
		buf := make([]byte, 1)
		for i := 0; i < n; i++ {
			_, _ = unix.Read(a[0], buf)
			_, _ = unix.Write(b[1], buf)
		}
		close(done)
	}()
	runtime.LockOSThread()
	var saved unix.CPUSet
	_ = unix.SchedGetaffinity(0, &saved)
	pinToCPU1()
	defer func() {
		_ = unix.SchedSetaffinity(0, &saved)
		runtime.UnlockOSThread()
	}()
	buf := make([]byte, 1)
	for i := 0; i < n; i++ {
		_, _ = unix.Write(a[1], buf)
		_, _ = unix.Read(b[0], buf)
	}
	<-done
}

func readZero(n int) {
	fd, _ := unix.Open("/dev/zero", unix.O_RDONLY, 0)
	defer unix.Close(fd)
	buf := make([]byte, 8)
	for i := 0; i < n; i++ {
		_, _ = unix.Read(fd, buf)
	}
}

func getppidLoop(n int) {
	for i := 0; i < n; i++ {
		_ = unix.Getppid()
	}
}

func loadHost(tb testing.TB, names ...string) *Set {
	tb.Helper()
	s, err := Load(Options{Enabled: names, RingBufferBytes: 1 << 22})
	if err != nil {
		tb.Fatal(err)
	}
	if len(s.Attached()) != len(names) {
		_ = s.Close()
		tb.Fatalf("attached %v of %v: %v", s.Attached(), names, s.Failed())
	}
	return s
}

func requireBenchEnv(b *testing.B, tools ...string) {
	testenv.RequireRoot(b, tools...)
	st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		testenv.SkipOrFail(b, "enable BPF run-time stats: %v", err)
	}
	b.Cleanup(func() { _ = st.Close() })
}

// compare loads our probe and the bpftrace script side by side, runs the
// workload b.N times and reports both per-run costs and their ratio.
func compare(b *testing.B, probe, script string, ours func(string) bool, workload func()) {
	requireBenchEnv(b, "bpftrace")
	before := programIDs(b)
	s := loadHost(b, probe)
	defer s.Close()
	mine := newIDs(before, programIDs(b))
	mid := programIDs(b)
	stop := startBpftrace(b, script)
	theirs := newIDs(mid, programIDs(b))
	if len(theirs) == 0 {
		b.Fatal("no bpftrace programs found")
	}
	ours0 := statsOf(b, mine, func(n string, _ ebpf.ProgramType) bool { return ours(n) })
	bt0 := statsOf(b, theirs, func(_ string, t ebpf.ProgramType) bool { return t == ebpf.TracePoint })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		workload()
	}
	b.StopTimer()
	ours1 := statsOf(b, mine, func(n string, _ ebpf.ProgramType) bool { return ours(n) })
	bt1 := statsOf(b, theirs, func(_ string, t ebpf.ProgramType) bool { return t == ebpf.TracePoint })
	stop()
	o := progStats{ours1.ns - ours0.ns, ours1.runs - ours0.runs}
	t := progStats{bt1.ns - bt0.ns, bt1.runs - bt0.runs}
	b.ReportMetric(o.perRun(), "ns/run-crosshair")
	b.ReportMetric(t.perRun(), "ns/run-bpftrace")
	b.ReportMetric(float64(o.runs)/float64(b.N), "runs/op-crosshair")
	b.ReportMetric(float64(t.runs)/float64(b.N), "runs/op-bpftrace")
	if t.perRun() > 0 {
		b.ReportMetric(o.perRun()/t.perRun(), "cost-ratio")
	}
}

func BenchmarkKernelCostSchedVsRunqlat(b *testing.B) {
	compare(b, "sched_delay", bpftraceRunqlat, func(n string) bool { return strings.HasPrefix(n, "handle_sched") },
		func() { pingPong(2000) })
}

func BenchmarkKernelCostBlockVsBiolatency(b *testing.B) {
	requireBenchEnv(b, "losetup", "dd")
	dev, _ := testenv.LoopDevice(b, 64)
	compare(b, "block_io", bpftraceBiolatency, func(n string) bool { return strings.HasPrefix(n, "handle_block") },
		func() {
			if out, err := exec.Command("dd", "if=/dev/zero", "of="+dev, "bs=4k", "count=200", "oflag=direct").CombinedOutput(); err != nil {
				b.Fatalf("dd: %v %s", err, out)
			}
		})
}

// BenchmarkKernelCostSchedSwitch: every program of ours on the scheduler
// tracepoints (sched_delay with per-thread throttling and steal, and
// syscall_slow's wait tracking, one sched_switch program when both run)
// against bpftrace's runqlat, per context
// switch: Σ run time of each side's programs / the switches of the window
// (one run of our handle_sched_switch per switch, the same switches for
// both sides since they are attached together).
func BenchmarkKernelCostSchedSwitch(b *testing.B) {
	requireBenchEnv(b, "bpftrace")
	before := programIDs(b)
	s := loadHost(b, "sched_delay", "syscall_slow")
	defer s.Close()
	mine := newIDs(before, programIDs(b))
	mid := programIDs(b)
	stop := startBpftrace(b, bpftraceRunqlat)
	theirs := newIDs(mid, programIDs(b))
	if len(theirs) == 0 {
		b.Fatal("no bpftrace programs found")
	}
	all := func(string, ebpf.ProgramType) bool { return true }
	switchProg := func(n string, _ ebpf.ProgramType) bool { return strings.HasPrefix(n, "handle_sched_sw") }
	bt := func(_ string, t ebpf.ProgramType) bool { return t == ebpf.TracePoint }
	o0, sw0, t0 := statsOf(b, mine, all), statsOf(b, mine, switchProg), statsOf(b, theirs, bt)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pingPong(2000)
	}
	b.StopTimer()
	o1, sw1, t1 := statsOf(b, mine, all), statsOf(b, mine, switchProg), statsOf(b, theirs, bt)
	stop()
	switches := float64(sw1.runs - sw0.runs)
	if switches == 0 {
		b.Fatal("no context switch seen")
	}
	ours, theirsNs := float64(o1.ns-o0.ns)/switches, float64(t1.ns-t0.ns)/switches
	b.ReportMetric(switches/float64(b.N), "switches/op")
	b.ReportMetric(ours, "ns/switch-crosshair")
	b.ReportMetric(theirsNs, "ns/switch-bpftrace")
	if theirsNs > 0 {
		b.ReportMetric(ours/theirsNs, "cost-ratio")
	}
}

// slowdownBpftrace is slowdown with the bpftrace script instead of our probes.
func slowdownBpftrace(b *testing.B, script string, fn func()) {
	testenv.RequireRoot(b, "bpftrace")
	slowdownWith(b, func() func() { return startBpftrace(b, script) }, fn)
}

// slowdown times fn with no probe and with the named probes loaded,
// alternating rounds (slowdownWith).
func slowdown(b *testing.B, names []string, fn func()) {
	// Run-time statistics stay off here: they add two clock reads to every
	// program run.
	testenv.RequireRoot(b)
	slowdownWith(b, func() func() {
		s := loadHost(b, names...)
		return func() { _ = s.Close() }
	}, fn)
}

// slowdownWith runs rounds of none → loaded → none, timing fn in each. The
// machine is shared and its speed drifts, so each round's ratio is the
// loaded run against the mean of the two unloaded runs around it, and the
// reported slowdown is the median of the rounds' ratios (the best-of times
// are reported too).
func slowdownWith(b *testing.B, load func() (unload func()), fn func()) {
	const rounds = 11
	timed := func() time.Duration {
		start := time.Now()
		fn()
		return time.Since(start)
	}
	var ratios []float64
	var bestNone, bestAll time.Duration
	keep := func(best *time.Duration, d time.Duration) {
		if *best == 0 || d < *best {
			*best = d
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := timed()
		for round := 0; round < rounds; round++ {
			b.StopTimer()
			unload := load()
			// Loading parses BTF and allocates: collect now, not
			// during the timed run (the loop needs both CPUs).
			runtime.GC()
			b.StartTimer()
			loaded := timed()
			b.StopTimer()
			unload()
			runtime.GC()
			b.StartTimer()
			after := timed()
			ratios = append(ratios, float64(loaded)/(float64(before+after)/2))
			keep(&bestNone, min(before, after))
			keep(&bestAll, loaded)
			before = after
		}
	}
	b.StopTimer()
	sort.Float64s(ratios)
	b.ReportMetric(float64(bestNone.Nanoseconds()), "ns-best-none")
	b.ReportMetric(float64(bestAll.Nanoseconds()), "ns-best-all")
	b.ReportMetric((ratios[len(ratios)/2]-1)*100, "slowdown-%-median")
	b.ReportMetric((float64(bestAll)/float64(bestNone)-1)*100, "slowdown-%-best")
}

var slowdownTargets = []struct {
	name string
	fn   func()
}{
	{"getppid", func() { getppidLoop(300_000) }},
	{"read-dev-zero", func() { readZero(100_000) }},
	{"pipe-ping-pong", func() { pingPong(10_000) }},
}

// loadDefault loads every default probe, as `ebpf: {}` does (a probe whose
// hook this kernel lacks is skipped, as in production).
func loadDefault(b *testing.B) func() {
	s, err := Load(Options{RingBufferBytes: 1 << 22})
	if err != nil {
		b.Fatal(err)
	}
	return func() { _ = s.Close() }
}

// BenchmarkSlowdown: every default probe loaded against none, alternating
// rounds; and bpftrace's runqlat on the switch-heavy loop for reference.
func BenchmarkSlowdown(b *testing.B) {
	for _, w := range slowdownTargets {
		b.Run(w.name+"/every-default-probe", func(b *testing.B) {
			testenv.RequireRoot(b)
			slowdownWith(b, func() func() { return loadDefault(b) }, w.fn)
		})
	}
	b.Run("pipe-ping-pong/bpftrace-runqlat", func(b *testing.B) { slowdownBpftrace(b, bpftraceRunqlat, slowdownTargets[2].fn) })
}
