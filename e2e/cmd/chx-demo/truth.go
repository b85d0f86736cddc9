package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// truthLog is the harness's oracle, never telemetry: per request, what the
// service itself measured of the faults' mechanisms (its fsync's wall time,
// the wall time of its CPU work). The harness reads it to tell a verdict
// explained by real contention (a busy machine's own IO or CPU) from a
// false one; nothing of it reaches a span.
type truthLog struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

// truthRecord is one request's line.
type truthRecord struct {
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
	FsyncNs int64  `json:"fsync_ns,omitempty"`
	// FsyncRunDelayNs is the part of FsyncNs the thread sat runnable in a
	// run queue (schedstat): on a busy machine a finished fsync can wait
	// for a CPU longer than it waited for the disk.
	FsyncRunDelayNs int64 `json:"fsync_run_delay_ns,omitempty"`
	CPUWall         int64 `json:"cpu_wall_ns,omitempty"`
	CPUSpent        int64 `json:"cpu_ns,omitempty"`
	// RunDelayNs is the serving thread's run-queue wait across the whole
	// server span (truthLog.measure), throttled periods included.
	RunDelayNs int64 `json:"run_delay_ns,omitempty"`
}

func openTruth(path string) (*truthLog, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// Buffered and flushed at exit: no write syscall per request.
	return &truthLog{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

type truthKey struct{}

// measure runs next — the instrumented handler, so the whole server span —
// on one locked OS thread and records the thread's run-queue wait across
// it: a request delayed by a busy machine's CPU or its cgroup's throttling
// outside its CPU work (reading the request, writing the reply) waited
// too. The handler fills the rest of the record (recordOf) and names its
// span (identify); requests without a span (health checks) are not
// recorded.
func (t *truthLog) measure(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		rec := &truthRecord{}
		before, errB := threadRunDelay()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), truthKey{}, rec)))
		after, errA := threadRunDelay()
		if rec.SpanID == "" {
			return
		}
		rec.RunDelayNs = int64(after - before)
		if errB != nil || errA != nil {
			rec.RunDelayNs = -1
		}
		b, _ := json.Marshal(rec)
		t.mu.Lock()
		defer t.mu.Unlock()
		_, _ = t.w.Write(append(b, '\n'))
	})
}

// recordOf is the request's record, or a throwaway one when the service
// keeps no truth log.
func recordOf(r *http.Request) *truthRecord {
	if rec, ok := r.Context().Value(truthKey{}).(*truthRecord); ok {
		return rec
	}
	return &truthRecord{}
}

// identify names the request's server span: a record without one is not
// written (the request failed before its reply).
func (rec *truthRecord) identify(r *http.Request) {
	sc := trace.SpanContextFromContext(r.Context())
	rec.TraceID, rec.SpanID = sc.TraceID().String(), sc.SpanID().String()
}

func (t *truthLog) Close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.w.Flush(); err != nil {
		t.f.Close()
		return err
	}
	return t.f.Close()
}

func since(t time.Time) int64 { return int64(time.Since(t)) }

// measuredSync fsyncs f and returns its wall time and, of that, the time
// its thread waited in a run queue for a CPU (-1 when schedstat is
// unreadable), so the harness can tell a wait for the disk from a wait for
// a CPU. The thread is locked so both schedstat reads are the fsync's
// thread's.
func measuredSync(f *os.File) (wall, runDelay time.Duration, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, errB := threadRunDelay()
	t0 := time.Now()
	err = f.Sync()
	wall = time.Since(t0)
	after, errA := threadRunDelay()
	if errB != nil || errA != nil {
		return wall, -1, err
	}
	return wall, after - before, err
}

// threadRunDelay is the calling thread's total time runnable in a run
// queue (/proc/thread-self/schedstat: time on a CPU, time waiting, slices).
func threadRunDelay() (time.Duration, error) {
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0, err
	}
	var onCPU, waiting int64
	if _, err := fmt.Sscan(string(b), &onCPU, &waiting); err != nil {
		return 0, fmt.Errorf("parse schedstat %q: %w", b, err)
	}
	return time.Duration(waiting), nil
}
