// Package procinfo resolves the container identity of kernel events: pid →
// cgroup path and container id (from /proc/<pid>/cgroup), cgroup id → path
// (for processes gone before decode), and a process's seccomp mode. Lookups
// are cached with a bound and a time to live, since pids are reused.
package procinfo

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crosshair-otel/crosshair/internal/identity"
)

// Info is what the receiver attaches to a record with a pid.
type Info struct {
	// CgroupPath is the process's cgroup: the v2 path when it is in a
	// non-root v2 cgroup, else its v1 path of the cpu controller (or the
	// first non-root v1 path).
	CgroupPath  string
	ContainerID string
	// Executable is the basename of /proc/<pid>/exe: the program the
	// process runs (process.executable.name), which the task's comm is
	// not — comm is a thread name any thread may change and is cut at 15
	// bytes. "" when the link cannot be read (a kernel thread, a process
	// gone, no ptrace access).
	Executable string
}

// Cache resolves and caches identities. The zero value is not usable; use New.
type Cache struct {
	procRoot   string // "/proc"
	cgroupRoot string // "/sys/fs/cgroup"
	ttl        time.Duration
	max        int

	mu      sync.Mutex
	pids    map[uint32]pidEntry
	seccomp map[uint32]seccompEntry
	ioLimit map[uint32]ioLimitEntry
	cpuLim  map[uint32]ioLimitEntry
	cgroups map[cgKey]cgEntry
	v1Names []string // controller name by subsys id (from /proc/cgroups)
	v2Root  string
	now     func() time.Time
}

type pidEntry struct {
	info Info
	at   time.Time
}

type seccompEntry struct {
	mode int
	at   time.Time
}

type ioLimitEntry struct {
	limit string
	at    time.Time
}

// ioLimitTTL is shorter than the identity's TTL: an operator (or a test)
// changes a cgroup's IO limits while its processes run, and the limit is
// evidence in a verdict.
const ioLimitTTL = 2 * time.Second

type cgKey struct {
	id   uint64
	hier uint32
}

type cgEntry struct {
	path string // "" when not found
	at   time.Time
}

// New returns a cache reading procRoot (normally /proc) and cgroupRoot
// (normally /sys/fs/cgroup), holding at most max entries of each kind for ttl.
func New(procRoot, cgroupRoot string, max int, ttl time.Duration) *Cache {
	c := &Cache{
		procRoot: procRoot, cgroupRoot: cgroupRoot, ttl: ttl, max: max,
		pids: map[uint32]pidEntry{}, seccomp: map[uint32]seccompEntry{}, ioLimit: map[uint32]ioLimitEntry{}, cpuLim: map[uint32]ioLimitEntry{}, cgroups: map[cgKey]cgEntry{}, now: time.Now,
	}
	c.v1Names = readSubsysNames(filepath.Join(procRoot, "cgroups"))
	c.v2Root = cgroupRoot
	if isCgroup2(filepath.Join(cgroupRoot, "unified")) {
		c.v2Root = filepath.Join(cgroupRoot, "unified") // hybrid layout
	}
	return c
}

// Default is New("/proc", "/sys/fs/cgroup", 4096, 30s).
func Default() *Cache { return New("/proc", "/sys/fs/cgroup", 4096, 30*time.Second) }

func isCgroup2(dir string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == 0x63677270 // CGROUP2_SUPER_MAGIC
}

// Lookup returns the identity of pid ("" fields when the process is gone).
func (c *Cache) Lookup(pid uint32) Info {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.pids[pid]; ok && now.Sub(e.at) < c.ttl {
		c.mu.Unlock()
		return e.info
	}
	c.mu.Unlock()
	entries, err := identity.ReadCgroupFile(c.procRoot, int64(pid))
	var info Info
	info.Executable = executable(filepath.Join(c.procRoot, strconv.FormatUint(uint64(pid), 10)))
	if err == nil {
		info.CgroupPath = identity.PickPath(entries)
		info.ContainerID = identity.ContainerID(info.CgroupPath)
		if info.ContainerID == "" {
			for _, e := range entries {
				if id := identity.ContainerID(e.Path); id != "" {
					info.ContainerID = id
					break
				}
			}
		}
	}
	c.mu.Lock()
	if len(c.pids) >= c.max {
		clear(c.pids)
	}
	if err == nil {
		c.pids[pid] = pidEntry{info: info, at: now}
	}
	c.mu.Unlock()
	return info
}

// executable returns the basename of the process directory's exe link,
// without the " (deleted)" the kernel appends when the file was removed
// (a binary replaced while it runs).
func executable(procDir string) string {
	target, err := os.Readlink(filepath.Join(procDir, "exe"))
	if err != nil || target == "" {
		return ""
	}
	return filepath.Base(strings.TrimSuffix(target, " (deleted)"))
}

// CgroupPath resolves a cgroup id as the BPF programs report it: hier 0 is
// a v2 id, hier n > 0 the id of a v1 cgroup of controller n-1 (enum
// cgroup_subsys_id). The id of a cgroup is the inode of its directory. The
// path is relative to the hierarchy's mount ("/" for the root).
func (c *Cache) CgroupPath(id uint64, hier uint32) string {
	if id == 0 {
		return ""
	}
	k := cgKey{id, hier}
	now := c.now()
	c.mu.Lock()
	if e, ok := c.cgroups[k]; ok && now.Sub(e.at) < c.ttl {
		c.mu.Unlock()
		return e.path
	}
	c.mu.Unlock()
	root := c.hierarchyRoot(hier)
	path := ""
	if root != "" {
		path = findInode(root, id)
	}
	c.mu.Lock()
	if len(c.cgroups) >= c.max {
		clear(c.cgroups)
	}
	c.cgroups[k] = cgEntry{path: path, at: now}
	c.mu.Unlock()
	return path
}

// Controller names the v1 controller of hier (n-1 in /proc/cgroups order).
func (c *Cache) Controller(hier uint32) string {
	if hier == 0 || int(hier) > len(c.v1Names) {
		return ""
	}
	return c.v1Names[hier-1]
}

func (c *Cache) hierarchyRoot(hier uint32) string {
	if hier == 0 {
		return c.v2Root
	}
	name := c.Controller(hier)
	if name == "" {
		return ""
	}
	return filepath.Join(c.cgroupRoot, name)
}

// findInode walks root for the directory whose inode is ino.
func findInode(root string, ino uint64) string {
	found := ""
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Ino == ino {
			rel, _ := filepath.Rel(root, p)
			found = "/" + strings.TrimPrefix(rel, ".")
			found = filepath.Clean(found)
			return fs.SkipAll
		}
		return nil
	})
	return found
}

// readSubsysNames lists the controllers in subsys-id order (/proc/cgroups
// prints them in that order).
func readSubsysNames(path string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// SeccompMode reads the Seccomp: line of /proc/<pid>/status (0 disabled,
// 1 strict, 2 filter); -1 when unknown. Cached like Lookup: a busy process
// emits many slow-syscall events, and reading status for each one was the
// receiver's largest idle cost. A process can enter seccomp later but never
// leave it, so a cached mode is at worst ttl behind.
func (c *Cache) SeccompMode(pid uint32) int {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.seccomp[pid]; ok && now.Sub(e.at) < c.ttl {
		c.mu.Unlock()
		return e.mode
	}
	c.mu.Unlock()
	mode, err := identity.ReadSeccompMode(c.procRoot, int64(pid))
	if err != nil {
		return -1
	}
	c.mu.Lock()
	if len(c.seccomp) >= c.max {
		clear(c.seccomp)
	}
	c.seccomp[pid] = seccompEntry{mode: mode, at: now}
	c.mu.Unlock()
	return mode
}

var devNames sync.Map // "M:m" → name

// BlockDevice names a block device from its numbers (/sys/dev/block/M:m,
// DEVNAME in its uevent); "M:m" when sysfs does not know it.
func BlockDevice(major, minor uint32) string {
	key := strconv.FormatUint(uint64(major), 10) + ":" + strconv.FormatUint(uint64(minor), 10)
	if v, ok := devNames.Load(key); ok {
		return v.(string)
	}
	name := key
	if raw, err := os.ReadFile("/sys/dev/block/" + key + "/uevent"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "DEVNAME="); ok && v != "" {
				name = v
			}
		}
		// Device numbers are reused (loop devices): cache only what sysfs knows.
		devNames.Store(key, name)
	}
	return name
}

// Comm reads /proc/<pid>/comm ("" when the process is gone).
func (c *Cache) Comm(pid uint32) string {
	raw, err := os.ReadFile(filepath.Join(c.procRoot, strconv.FormatUint(uint64(pid), 10), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}

// IOLimit returns the IO throttle settings of pid's cgroup, "" when none:
// the v1 blkio controller's blkio.throttle.* files ("write_iops_device=7:0 10")
// or the v2 io.max lines. A slow write/fsync in a cgroup with a limit is
// the limit's doing (blkio throttling holds IO before it becomes a request).
func (c *Cache) IOLimit(pid uint32) string {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.ioLimit[pid]; ok && now.Sub(e.at) < min(c.ttl, ioLimitTTL) {
		c.mu.Unlock()
		return e.limit
	}
	c.mu.Unlock()
	limit := c.readIOLimit(pid)
	c.mu.Lock()
	if len(c.ioLimit) >= c.max {
		clear(c.ioLimit)
	}
	c.ioLimit[pid] = ioLimitEntry{limit: limit, at: now}
	c.mu.Unlock()
	return limit
}

// readIOLimit reads the limits IOLimit reports, uncached.
func (c *Cache) readIOLimit(pid uint32) string {
	entries, err := identity.ReadCgroupFile(c.procRoot, int64(pid))
	if err != nil {
		return ""
	}
	var limits []string
	for _, e := range entries {
		switch {
		case e.Has("blkio") && e.Path != "/":
			dir := filepath.Join(c.cgroupRoot, "blkio", e.Path)
			for _, f := range []string{"read_bps_device", "write_bps_device", "read_iops_device", "write_iops_device"} {
				v, err := os.ReadFile(filepath.Join(dir, "blkio.throttle."+f))
				if err == nil && strings.TrimSpace(string(v)) != "" {
					limits = append(limits, f+"="+strings.Join(strings.Fields(string(v)), " "))
				}
			}
		case e.Unified() && e.Path != "/":
			v, err := os.ReadFile(filepath.Join(c.v2Root, e.Path, "io.max"))
			if err == nil && strings.TrimSpace(string(v)) != "" {
				limits = append(limits, "io.max="+strings.Join(strings.Fields(string(v)), " "))
			}
		}
	}
	return strings.Join(limits, "; ")
}
