// Package procinfo resolves a process id to its container and cgroup from
// /proc/<pid>/cgroup, with a small bounded cache: kernel events name a pid,
// the join needs the container.
package procinfo

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Info is what is known about a process.
type Info struct {
	// CgroupPath is the process's cgroup v2 path, or on a v1-only host the
	// path of its cpu controller ("" when unreadable).
	CgroupPath string
	// ContainerID is the 64-hex-digit id found in the cgroup path
	// (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>, kubepods/.../<id>), "" for
	// processes outside containers.
	ContainerID string
}

// Resolver caches Info per pid. Pids are reused, so entries expire after TTL.
type Resolver struct {
	// Root is the procfs mount (default "/proc"; "/host/proc" in a pod).
	Root string
	TTL  time.Duration
	Max  int

	mu    sync.Mutex
	cache map[uint32]entry
}

type entry struct {
	info Info
	at   time.Time
	ok   bool
}

// New returns a resolver reading root with a cache of max entries.
func New(root string, ttl time.Duration, max int) *Resolver {
	if root == "" {
		root = "/proc"
	}
	return &Resolver{Root: root, TTL: ttl, Max: max, cache: map[uint32]entry{}}
}

// Lookup returns the process's info; ok is false when the process is gone
// (it exited before the event was read) or its cgroup file is unreadable.
func (r *Resolver) Lookup(pid uint32, now time.Time) (Info, bool) {
	r.mu.Lock()
	e, hit := r.cache[pid]
	r.mu.Unlock()
	if hit && now.Sub(e.at) < r.TTL {
		return e.info, e.ok
	}
	data, err := os.ReadFile(filepath.Join(r.Root, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	e = entry{at: now, ok: err == nil}
	if err == nil {
		e.info = Parse(data)
	}
	r.mu.Lock()
	if len(r.cache) >= r.Max {
		// Bounded: drop everything expired, or everything if nothing is.
		for k, v := range r.cache {
			if now.Sub(v.at) >= r.TTL {
				delete(r.cache, k)
			}
		}
		if len(r.cache) >= r.Max {
			clear(r.cache)
		}
	}
	r.cache[pid] = e
	r.mu.Unlock()
	return e.info, e.ok
}

var containerID = regexp.MustCompile(`([0-9a-f]{64})`)

// Parse reads the contents of /proc/<pid>/cgroup (v2 "0::/path" line, v1
// "N:controllers:/path" lines; hybrid hosts have both).
func Parse(data []byte) Info {
	var v2, v1cpu, v1any string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case slicesContains(strings.Split(parts[1], ","), "cpu"):
			v1cpu = parts[2]
		case v1any == "" && parts[2] != "/":
			v1any = parts[2]
		}
	}
	info := Info{CgroupPath: v2}
	// On a hybrid host a process in a container usually sits at "/" in the
	// v2 hierarchy; the v1 path is the informative one then.
	if info.CgroupPath == "" || info.CgroupPath == "/" {
		if v1cpu != "" {
			info.CgroupPath = v1cpu
		} else if v1any != "" {
			info.CgroupPath = v1any
		}
	}
	for _, p := range []string{info.CgroupPath, v2, v1cpu, v1any} {
		if m := containerID.FindString(p); m != "" {
			info.ContainerID = m
			break
		}
	}
	return info
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
