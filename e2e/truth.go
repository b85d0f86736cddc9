package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// Truth is what a demo service measured of one request (chx-demo serve
// -truth): the harness's oracle for "what really happened", never telemetry.
type Truth struct {
	TraceID  string `json:"trace_id"`
	SpanID   string `json:"span_id"`
	FsyncNs  int64  `json:"fsync_ns"`
	CPUWall  int64  `json:"cpu_wall_ns"`
	CPUSpent int64  `json:"cpu_ns"`
}

// Fsync is the wall time of the request's fsync.
func (t Truth) Fsync() time.Duration { return time.Duration(t.FsyncNs) }

// OffCPU is how much longer the request's CPU work took than the CPU it
// used: time runnable but not running (throttled or preempted).
func (t Truth) OffCPU() time.Duration { return time.Duration(t.CPUWall - t.CPUSpent) }

// ReadTruth reads every truth-*.jsonl file in dir, by span id.
func ReadTruth(dir string) (map[string]Truth, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "truth-*.jsonl"))
	if err != nil {
		return nil, err
	}
	out := map[string]Truth{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var t Truth
			if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
				f.Close()
				return nil, err
			}
			out[t.SpanID] = t
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// slowedBy says whether a span's own request really waited on the
// scenario's mechanism, by the service's measurement: an fsync slower than
// max(floor, 2 × the no-fault phase's median fsync), or CPU work that sat
// off-CPU for at least floor. A verdict of the expected layer on such a span
// is explained by real contention (the fault, or a busy machine's own IO or
// CPU), not a false positive (issue 14 row 14).
func slowedBy(truth map[string]Truth, noFault []*Span, floor time.Duration) func(*Span) bool {
	var fsyncs []time.Duration
	for _, s := range noFault {
		if t, ok := truth[s.SpanID]; ok && t.FsyncNs > 0 {
			fsyncs = append(fsyncs, t.Fsync())
		}
	}
	slowFsync := max(floor, 2*Quantile(fsyncs, 0.5))
	return func(s *Span) bool {
		t, ok := truth[s.SpanID]
		if !ok {
			return false
		}
		return (t.FsyncNs > 0 && t.Fsync() >= slowFsync) || (t.CPUWall > 0 && t.OffCPU() >= floor)
	}
}
