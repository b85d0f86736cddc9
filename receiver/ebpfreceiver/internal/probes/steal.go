package probes

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// userHZ is the unit of /proc/stat (USER_HZ, 100 on every Linux ABI).
const userHZ = 100

// ParseProcStatSteal returns the steal time per CPU from /proc/stat.
func ParseProcStatSteal(raw []byte) map[int]time.Duration {
	out := map[int]time.Duration{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		ticks, err := strconv.ParseUint(f[8], 10, 64)
		if err != nil {
			continue
		}
		out[cpu] = time.Duration(ticks) * time.Second / userHZ
	}
	return out
}

type cpuSteal struct {
	path      string
	threshold time.Duration
	// perThread: sched_delay reports each process's steal, so these
	// records are node-level evidence only.
	perThread bool

	mu    sync.Mutex
	last  map[int]time.Duration
	since time.Time
}

func attachCPUSteal(env *attachEnv) (*Attachment, error) {
	s := &cpuSteal{path: filepath.Join(env.host.ProcRoot, "stat"), threshold: env.host.StealThreshold, perThread: env.host.perThreadSteal}
	if err := s.poll(timeNow(), nil); err != nil {
		return nil, err
	}
	return &Attachment{
		PollEvents: func(now time.Time, logs plog.LogRecordSlice) error { return s.poll(now, &logs) },
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			for cpu, d := range s.last {
				mb.RecordSystemCPUTimeDataPoint(now, d.Seconds(), metadata.AttributeCPUModeSteal, int64(cpu))
			}
			return nil
		},
	}, nil
}

// poll reads /proc/stat; with logs, appends a kernel.cpu.steal record for
// every CPU whose steal in the interval reached the threshold (Timestamp =
// interval end, kernel.interval.start attribute = its start, as for throttling).
func (s *cpuSteal) poll(now time.Time, logs *plog.LogRecordSlice) error {
	raw, err := os.ReadFile(s.path)
	if err != nil {
		return err
	}
	cur := ParseProcStatSteal(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, since := s.last, s.since
	s.last, s.since = cur, now
	if logs == nil || prev == nil {
		return nil
	}
	for cpu, d := range cur {
		p, ok := prev[cpu]
		if !ok || d < p || d-p < s.threshold {
			continue
		}
		delta := d - p
		lr := appendStealRecord(*logs, now)
		a := lr.Attributes()
		a.PutInt(contract.AttrCPU, int64(cpu))
		a.PutInt(contract.AttrCPUStealNs, delta.Nanoseconds())
		a.PutInt(contract.AttrIntervalStart, since.UnixNano())
		a.PutInt(contract.AttrIntervalNs, now.Sub(since).Nanoseconds())
		// The hypervisor ran something else on this vCPU's physical CPU.
		a.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventCPUSteal}))
		if s.perThread {
			a.PutBool(contract.AttrPerThreadEvidence, true)
		}
		lr.Body().SetStr("cpu" + strconv.Itoa(cpu) + " steal " + delta.String() + " in " + now.Sub(since).Round(time.Millisecond).String())
	}
	return nil
}

// appendStealRecord appends a kernel.cpu.steal record stamped now (the end
// of its interval), for the node-wide (per CPU) and the per-process records
// alike.
func appendStealRecord(logs plog.LogRecordSlice, now time.Time) plog.LogRecord {
	return appendWarnRecord(logs, now, contract.EventCPUSteal)
}
