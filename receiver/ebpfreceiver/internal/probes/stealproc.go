package probes

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/procinfo"
)

// DefaultProcessStealThreshold is the steal a process must lose within one
// poll interval for a per-process kernel.cpu.steal record.
const DefaultProcessStealThreshold = time.Millisecond

// processSteal turns the kernel's per-process steal sums (bpf/sched.c
// steal_by_tgid: the steal of each CPU charged to the task that ran while
// it accrued) into one kernel.cpu.steal record per process and poll
// interval.
type processSteal struct {
	sums      *ebpf.Map
	threshold time.Duration
	procs     *procinfo.Cache
	procRoot  string

	mu    sync.Mutex
	last  map[uint32]uint64 // cumulative ns per tgid at the previous poll
	since time.Time
}

func newProcessSteal(sums *ebpf.Map, opts *HostOptions) *processSteal {
	return &processSteal{sums: sums, threshold: DefaultProcessStealThreshold, procs: opts.Procs, procRoot: opts.ProcRoot,
		last: map[uint32]uint64{}, since: timeNow()}
}

// poll appends a record per process whose steal in the interval reached
// the threshold (Timestamp = interval end, kernel.interval.start its start) and
// forgets the processes that are gone.
func (s *processSteal) poll(now time.Time, logs plog.LogRecordSlice) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	since := s.since
	s.since = now
	var (
		tgid   uint32
		perCPU []uint64
		gone   []uint32
	)
	seen := make(map[uint32]bool, len(s.last))
	iter := s.sums.Iterate()
	for iter.Next(&tgid, &perCPU) {
		var sum uint64
		for _, v := range perCPU {
			sum += v
		}
		seen[tgid] = true
		delta := sum - s.last[tgid]
		s.last[tgid] = sum
		if time.Duration(delta) >= s.threshold {
			s.appendRecord(logs, now, since, tgid, time.Duration(delta))
		}
		if _, err := os.Stat(filepath.Join(s.procRoot, strconv.FormatUint(uint64(tgid), 10))); errors.Is(err, os.ErrNotExist) {
			gone = append(gone, tgid)
		}
	}
	for _, k := range gone {
		_ = s.sums.Delete(k)
		delete(s.last, k)
	}
	for k := range s.last {
		if !seen[k] {
			delete(s.last, k)
		}
	}
	return iter.Err()
}

func (s *processSteal) appendRecord(logs plog.LogRecordSlice, now, since time.Time, pid uint32, d time.Duration) {
	lr := appendStealRecord(logs, now)
	a := lr.Attributes()
	a.PutInt(contract.AttrProcessPID, int64(pid))
	comm := s.procs.Comm(pid)
	if comm != "" {
		a.PutStr(contract.AttrThreadName, comm)
	}
	info := s.procs.Lookup(pid)
	if info.Executable != "" {
		a.PutStr(contract.AttrProcessExecutable, info.Executable)
	}
	if info.CgroupPath != "" {
		a.PutStr(contract.AttrCgroupPath, info.CgroupPath)
	}
	if info.ContainerID != "" {
		a.PutStr(contract.AttrContainerID, info.ContainerID)
	}
	a.PutInt(contract.AttrCPUStealNs, d.Nanoseconds())
	a.PutInt(contract.AttrIntervalStart, since.UnixNano())
	a.PutInt(contract.AttrIntervalNs, now.Sub(since).Nanoseconds())
	// The hypervisor ran something else while this process's threads were
	// on the vCPU.
	a.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventCPUSteal}))
	lr.Body().SetStr("process " + comm + " (" + strconv.FormatUint(uint64(pid), 10) + ") lost " + d.String() + " to steal in " + now.Sub(since).Round(time.Millisecond).String())
}
