package ebpfreceiver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/probes"
)

// bpfStatsRunTime is BPF_STATS_RUN_TIME: while the returned fd is open the
// kernel accumulates run_time_ns/run_cnt for every program, the same
// counters `sysctl kernel.bpf_stats_enabled=1` turns on, but reference
// counted so concurrent users do not switch each other off.
const bpfStatsRunTime = 0

type progStats struct {
	name    string
	runtime time.Duration
	runs    uint64
}

func readStats(b *testing.B, ids map[ebpf.ProgramID]string) map[ebpf.ProgramID]progStats {
	b.Helper()
	out := map[ebpf.ProgramID]progStats{}
	for id, name := range ids {
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			b.Fatalf("program %d (%s): %v", id, name, err)
		}
		st, err := prog.Stats()
		_ = prog.Close()
		if err != nil {
			b.Fatalf("stats of %s: %v", name, err)
		}
		out[id] = progStats{name: name, runtime: st.Runtime, runs: st.RunCount}
	}
	return out
}

// startBpftrace runs a bpftrace script as a child process and returns the
// ids of the programs it loaded (from its fds' fdinfo).
func startBpftrace(b *testing.B, script string) []ebpf.ProgramID {
	b.Helper()
	cmd := exec.Command("bpftrace", script)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatalf("start bpftrace %s: %v", script, err)
	}
	done := make(chan struct{})
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	attached := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Attaching") {
				once.Do(func() { close(attached) })
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-attached:
	case <-done:
		b.Fatalf("bpftrace %s exited before attaching", script)
	case <-time.After(30 * time.Second):
		b.Fatalf("bpftrace %s did not attach in 30s", script)
	}
	// "Attaching" is printed before the attach completes; wait for the
	// program fds to show up.
	var ids []ebpf.ProgramID
	for deadline := time.Now().Add(10 * time.Second); len(ids) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ids = programIDsOf(cmd.Process.Pid)
	}
	if len(ids) == 0 {
		b.Fatalf("no BPF program found in bpftrace (pid %d) fds", cmd.Process.Pid)
	}
	return ids
}

func programIDsOf(pid int) []ebpf.ProgramID {
	paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fdinfo/*", pid))
	var ids []ebpf.ProgramID
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					ids = append(ids, ebpf.ProgramID(id))
				}
			}
		}
	}
	return ids
}

// drain reads the ring buffer until it is closed, counting records.
func drain(set *probes.Set) (stop func() uint64) {
	rd, err := ringbuf.NewReader(set.Events)
	if err != nil {
		panic(err)
	}
	var n atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var rec ringbuf.Record
		for {
			if err := rd.ReadInto(&rec); err != nil {
				if errors.Is(err, ringbuf.ErrClosed) {
					return
				}
				continue
			}
			n.Add(1)
		}
	}()
	return func() uint64 {
		_ = rd.Close()
		<-done
		return n.Load()
	}
}

// BenchmarkKernelCost runs the same traffic (one lossy 64 KiB transfer per
// iteration: a connection lifecycle plus retransmits) with Crosshair's
// programs and the bpftrace equivalents of tcpretrans and tcplife loaded
// side by side, and reports each program's kernel cost per run
// (run_time_ns / run_cnt) and Crosshair's cost relative to bpftrace's.
func BenchmarkKernelCost(b *testing.B) {
	testenv.RequireRoot(b, "ip", "nft", "bpftrace")
	stats, err := ebpf.EnableStats(bpfStatsRunTime)
	if err != nil {
		testenv.SkipOrFail(b, "enable BPF stats: %v", err)
	}
	defer stats.Close()

	const port = 18090
	link := lossyLink(b, "bk", port, "198.18.130.1/30", "198.18.130.2/30")
	set, err := probes.Load(probes.Options{
		Enabled:         []string{"tcp_retransmit", "tcp_connection", "tcp_reset", "skb_drop"},
		RingBufferBytes: 4 << 20,
		Logger:          zap.NewNop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer set.Close()
	stop := drain(set)
	defer stop()

	ids := map[ebpf.ProgramID]string{}
	for _, id := range set.ProgramIDs() {
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			b.Fatal(err)
		}
		info, err := prog.Info()
		_ = prog.Close()
		if err != nil {
			b.Fatal(err)
		}
		ids[id] = info.Name
	}
	dir := filepath.Join("testdata", "bench")
	for _, script := range []string{"tcpretrans", "tcplife"} {
		for _, id := range startBpftrace(b, filepath.Join(dir, script+".bt")) {
			ids[id] = "bpftrace_" + script
		}
	}

	before := readStats(b, ids)
	b.ResetTimer()
	for range b.N {
		link.Transfer(b, port, 64<<10)
	}
	b.StopTimer()
	after := readStats(b, ids)

	perRun := map[string]float64{}
	for id, a := range after {
		runs := a.runs - before[id].runs
		if runs == 0 {
			continue
		}
		ns := float64(a.runtime-before[id].runtime) / float64(runs)
		perRun[a.name] = ns
		b.ReportMetric(ns, a.name+"_ns/event")
		b.ReportMetric(float64(runs), a.name+"_runs")
	}
	for _, pair := range []struct{ probe, ours, theirs string }{
		{"tcp_retransmit", "handle_tcp_retransmit_btf", "bpftrace_tcpretrans"},
		{"tcp_connection", "handle_inet_sock_set_state", "bpftrace_tcplife"},
	} {
		if o, t := perRun[pair.ours], perRun[pair.theirs]; o > 0 && t > 0 {
			b.ReportMetric(o/t, pair.probe+"_vs_bpftrace_ratio")
		}
	}
}

// BenchmarkRingBufferLoss forces a high event rate (failed connects to a
// closed port from several goroutines: a connection record and two reset
// records each) into a one-page ring buffer and into the default 4 MiB one,
// and reports the event rate and how many reservations failed. Losses are
// counted in the kernel (events_lost) and exported as
// otelcol_receiver_ebpf_events_lost.
func BenchmarkRingBufferLoss(b *testing.B) {
	testenv.RequireRoot(b, "ip")
	link := plainLink(b, "bl", "198.18.131.1/30", "198.18.131.2/30")
	for _, ring := range []uint32{uint32(os.Getpagesize()), 4 << 20} {
		b.Run(fmt.Sprintf("ring=%d", ring), func(b *testing.B) {
			set, err := probes.Load(probes.Options{
				Enabled:         []string{"tcp_connection", "tcp_reset"},
				RingBufferBytes: ring,
				Logger:          zap.NewNop(),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer set.Close()
			stop := drain(set)
			addr := net.JoinHostPort(link.AddrB, "18091")
			const workers = 4
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			per := b.N/workers + 1
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = link.A.Do(func() error {
						for range per {
							if c, err := net.Dial("tcp", addr); err == nil {
								_ = c.Close()
							}
						}
						return nil
					})
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			time.Sleep(100 * time.Millisecond) // let the reader catch up
			read := stop()
			lostBy, err := set.LostByType()
			if err != nil {
				b.Fatal(err)
			}
			var lost uint64
			for _, n := range lostBy {
				lost += n
			}
			total := read + lost
			b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(lost), "lost")
			if total > 0 {
				b.ReportMetric(100*float64(lost)/float64(total), "lost_%")
			}
		})
	}
}
