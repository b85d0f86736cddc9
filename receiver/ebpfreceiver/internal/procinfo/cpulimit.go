package procinfo

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/crosshair-otel/crosshair/internal/identity"
)

// CPULimit returns the CFS bandwidth limit of pid's cgroup, "" when none:
// v1 "cpu.cfs_quota_us=10000 cpu.cfs_period_us=100000" (quota not -1) or v2
// "cpu.max=10000 100000" (not "max"). Run-queue delay in a cgroup without a
// limit is the node's CPU contention, not the container boundary's doing.
func (c *Cache) CPULimit(pid uint32) string {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.cpuLim[pid]; ok && now.Sub(e.at) < min(c.ttl, ioLimitTTL) {
		c.mu.Unlock()
		return e.limit
	}
	c.mu.Unlock()
	limit := c.readCPULimit(pid)
	c.mu.Lock()
	if len(c.cpuLim) >= c.max {
		clear(c.cpuLim)
	}
	c.cpuLim[pid] = ioLimitEntry{limit: limit, at: now}
	c.mu.Unlock()
	return limit
}

func (c *Cache) readCPULimit(pid uint32) string {
	entries, err := identity.ReadCgroupFile(c.procRoot, int64(pid))
	if err != nil {
		return ""
	}
	for _, e := range entries {
		switch {
		case e.Has("cpu") && e.Path != "/":
			for _, mount := range []string{strings.Join(e.Controllers, ","), "cpu", "cpu,cpuacct"} {
				dir := filepath.Join(c.cgroupRoot, mount, e.Path)
				q, err := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
				if err != nil {
					continue
				}
				quota := strings.TrimSpace(string(q))
				if n, err := strconv.ParseInt(quota, 10, 64); err != nil || n <= 0 {
					break
				}
				p, _ := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
				return "cpu.cfs_quota_us=" + quota + " cpu.cfs_period_us=" + strings.TrimSpace(string(p))
			}
		case e.Unified() && e.Path != "/":
			v, err := os.ReadFile(filepath.Join(c.v2Root, e.Path, "cpu.max"))
			if f := strings.Fields(string(v)); err == nil && len(f) > 0 && f[0] != "max" {
				return "cpu.max=" + strings.Join(f, " ")
			}
		}
	}
	return ""
}
