package probes

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.uber.org/zap"
)

// tcpSnapshot is the start-up snapshot of established TCP connections
// (bpf/tcpsnapshot.c): a task_file iterator run once.
type tcpSnapshot struct {
	objs tcpsnapshotObjects
}

// loadTCPSnapshot loads the iterator sharing the lifecycle program's
// accept_pending map (and the shared ring buffer and sock_owners).
func loadTCPSnapshot(env *attachEnv, pending *ebpf.Map) (*tcpSnapshot, error) {
	spec, err := loadTcpsnapshot()
	if err != nil {
		return nil, fmt.Errorf("read embedded object tcpsnapshot: %w", err)
	}
	env.prepare(spec)
	replacements := maps.Clone(env.opts.MapReplacements)
	replacements["accept_pending"] = pending
	s := &tcpSnapshot{}
	if err := spec.LoadAndAssign(&s.objs, &ebpf.CollectionOptions{MapReplacements: replacements}); err != nil {
		return nil, fmt.Errorf("load tcpsnapshot: %w", err)
	}
	return s, nil
}

// Run walks every task's files once; each TCP connection it reports is one
// byte of the iterator's output, so the count is what it read.
func (s *tcpSnapshot) Run() (int, error) {
	it, err := link.AttachIter(link.IterOptions{Program: s.objs.SnapshotTcp})
	if err != nil {
		return 0, fmt.Errorf("attach iter/task_file: %w", err)
	}
	defer it.Close()
	rd, err := it.Open()
	if err != nil {
		return 0, fmt.Errorf("open iter/task_file: %w", err)
	}
	n, err := io.Copy(io.Discard, rd)
	return int(n), errors.Join(err, rd.Close())
}

func (s *tcpSnapshot) Close() error { return s.objs.Close() }

// RunSnapshots runs each probe's start-up snapshot once, logging what it
// found and how long it took. The receiver calls it after it started
// reading the ring buffer, so a large snapshot drains while it is written.
func (s *Set) RunSnapshots(logger *zap.Logger) {
	for _, name := range s.attached {
		a := s.attachments[name]
		if a.Snapshot == nil {
			continue
		}
		start := time.Now()
		n, err := a.Snapshot()
		if err != nil {
			logger.Warn("start-up snapshot failed", zap.String("probe", name), zap.Error(err))
			continue
		}
		logger.Info("start-up snapshot", zap.String("probe", name), zap.Int("found", n), zap.Duration("took", time.Since(start)))
	}
}
