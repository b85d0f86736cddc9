package probes

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/identity"
	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// CPUStat is the throttling part of a cgroup's cpu.stat.
type CPUStat struct {
	NrPeriods   uint64
	NrThrottled uint64
	ThrottledNs uint64
}

// ParseCPUStat reads cpu.stat of cgroup v1 (nr_throttled, throttled_time in
// ns) or v2 (nr_throttled, throttled_usec).
func ParseCPUStat(raw []byte) (CPUStat, bool) {
	var s CPUStat
	found := false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			continue
		}
		switch string(k) {
		case "nr_periods":
			s.NrPeriods = n
		case "nr_throttled":
			s.NrThrottled, found = n, true
		case "throttled_time": // v1, ns
			s.ThrottledNs, found = n, true
		case "throttled_usec": // v2
			s.ThrottledNs, found = n*1000, true
		}
	}
	return s, found
}

// cgroupThrottle polls cpu.stat of every cgroup under the cpu hierarchies
// (v1 cpu controller and v2) and reports each interval in which a cgroup
// was throttled.
type cgroupThrottle struct {
	roots []string // hierarchy mount points to walk
	max   int      // bound on cgroups tracked
	// perThread: sched_delay reports each thread's throttled waits, so
	// these records are cgroup-level evidence only.
	perThread bool

	mu    sync.Mutex
	last  map[string]throttleState // key: hierarchy root + path
	since time.Time                // previous poll
	// overCap counts cpu.stat reads skipped because max cgroups are
	// tracked already: their throttling goes unseen.
	overCap int64
}

type throttleState struct {
	root, path string
	stat       CPUStat
	seen       time.Time
}

// CPUHierarchies returns the cgroup mounts that have cpu.stat with
// throttling: the v1 cpu controller's and the v2 hierarchy (hybrid or pure).
func CPUHierarchies(cgroupRoot string) []string {
	var roots []string
	for _, dir := range []string{"cpu", "cpu,cpuacct", "unified"} {
		p := filepath.Join(cgroupRoot, dir)
		if st, err := os.Lstat(p); err == nil && st.IsDir() {
			roots = append(roots, p)
		}
	}
	var sfs syscall.Statfs_t
	if syscall.Statfs(cgroupRoot, &sfs) == nil && sfs.Type == 0x63677270 {
		roots = append(roots, cgroupRoot) // pure v2
	}
	return roots
}

func attachCgroupThrottle(env *attachEnv) (*Attachment, error) {
	maxCgroups := env.host.maxCgroups
	if maxCgroups <= 0 {
		maxCgroups = 65536
	}
	c := &cgroupThrottle{roots: CPUHierarchies(env.host.CgroupRoot), max: maxCgroups, last: map[string]throttleState{}, perThread: env.host.perThreadThrottle}
	if len(c.roots) == 0 {
		return nil, os.ErrNotExist
	}
	// The first read is the baseline: throttling before start is history.
	c.poll(timeNow(), nil)
	return &Attachment{
		PollEvents: func(now time.Time, logs plog.LogRecordSlice) error {
			c.poll(now, &logs)
			return nil
		},
		Missed: func() map[string]int64 {
			c.mu.Lock()
			defer c.mu.Unlock()
			return map[string]int64{"cgroups_over_cap": c.overCap}
		},
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, s := range c.last {
				if s.stat.NrThrottled == 0 && s.stat.ThrottledNs == 0 {
					continue
				}
				id := identity.ContainerID(s.path)
				mb.RecordKernelCgroupCPUThrottledTimeDataPoint(now, float64(s.stat.ThrottledNs)/1e9, s.path, id)
				mb.RecordKernelCgroupCPUThrottledPeriodsDataPoint(now, int64(s.stat.NrThrottled), s.path, id)
			}
			return nil
		},
	}, nil
}

// poll reads every cpu.stat; when logs is set, appends a
// kernel.cgroup.throttle record per cgroup throttled since the last poll.
//
// Time convention: the record's Timestamp is the end of the interval (this
// poll); kernel.interval.start (Unix ns) and kernel.interval.duration_ns give its start,
// so the join can use [kernel.interval.start, Timestamp] as the evidence window.
func (c *cgroupThrottle) poll(now time.Time, logs *plog.LogRecordSlice) {
	c.mu.Lock()
	defer c.mu.Unlock()
	since := c.since
	c.since = now
	for _, root := range c.roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			raw, err := os.ReadFile(filepath.Join(p, "cpu.stat"))
			if err != nil {
				return nil
			}
			stat, ok := ParseCPUStat(raw)
			if !ok {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			path := filepath.Clean("/" + rel)
			key := root + ":" + path
			prev, had := c.last[key]
			if !had && len(c.last) >= c.max {
				c.overCap++ // not tracked: its throttling is not seen
				return nil
			}
			c.last[key] = throttleState{root: root, path: path, stat: stat, seen: now}
			if logs == nil || !had || stat.NrThrottled < prev.stat.NrThrottled || stat.ThrottledNs < prev.stat.ThrottledNs {
				return nil
			}
			dn, dt := stat.NrThrottled-prev.stat.NrThrottled, stat.ThrottledNs-prev.stat.ThrottledNs
			if dn == 0 && dt == 0 {
				return nil
			}
			appendThrottle(*logs, now, since, path, dn, dt, c.perThread)
			return nil
		})
	}
	// Forget cgroups that are gone.
	for k, s := range c.last {
		if !s.seen.Equal(now) {
			delete(c.last, k)
		}
	}
}

func appendThrottle(logs plog.LogRecordSlice, now, since time.Time, path string, periods, ns uint64, perThread bool) {
	lr := appendWarnRecord(logs, now, contract.EventCgroupThrottle)
	a := lr.Attributes()
	a.PutStr(contract.AttrCgroupPath, path)
	if id := identity.ContainerID(path); id != "" {
		a.PutStr(contract.AttrContainerID, id)
	}
	a.PutInt(contract.AttrCgroupThrottledNs, int64(ns))
	a.PutInt(contract.AttrCgroupThrottledPeriods, int64(periods))
	a.PutInt(contract.AttrIntervalStart, since.UnixNano())
	a.PutInt(contract.AttrIntervalNs, now.Sub(since).Nanoseconds())
	a.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventCgroupThrottle}))
	if perThread {
		a.PutBool(contract.AttrPerThreadEvidence, true)
	}
	lr.Body().SetStr("cgroup " + path + " cpu throttled " + strconv.FormatFloat(float64(ns)/1e6, 'f', 1, 64) +
		"ms (" + strconv.FormatUint(periods, 10) + " periods)")
}
