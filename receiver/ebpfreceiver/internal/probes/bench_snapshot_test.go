package probes

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkTCPSnapshotWalk: one walk of every task's files by the
// iter/task_file program (bpf/tcpsnapshot.c) on this node, with its
// sockets already owned (the steady state of a periodic walk); the first
// walk, which reports every established connection, is reported apart.
func BenchmarkTCPSnapshotWalk(b *testing.B) {
	requireBenchEnv(b)
	// 200 loopback connections of this process, so the walk has some to find.
	for i := 0; i < 200; i++ {
		newTCPPingPong(b)
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	tasks, _ := filepath.Glob("/proc/[0-9]*")
	s := loadHost(b, "tcp_connection")
	defer s.Close()
	snap := s.Attachments()["tcp_connection"].Snapshot
	if snap == nil {
		b.Fatal("no snapshot")
	}
	start := time.Now()
	found, err := snap()
	if err != nil {
		b.Fatal(err)
	}
	first := time.Since(start)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := snap(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(first.Microseconds()), "us-first-walk")
	b.ReportMetric(float64(found), "found-first-walk")
	b.ReportMetric(float64(len(fds)), "fds-on-node")
	b.ReportMetric(float64(len(tasks)), "processes-on-node")
}
