package identity

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Entry is one line of /proc/<pid>/cgroup.
type Entry struct {
	HierarchyID int
	Controllers []string // empty for the v2 line
	Path        string
}

// Unified reports the cgroup v2 line ("0::<path>").
func (e Entry) Unified() bool { return e.HierarchyID == 0 && len(e.Controllers) == 0 }

// Has reports whether the v1 hierarchy of e holds controller ctl.
func (e Entry) Has(ctl string) bool { return slices.Contains(e.Controllers, ctl) }

// ParseCgroupFile parses /proc/<pid>/cgroup ("hierarchy-id:controllers:path"
// lines); malformed lines are skipped.
func ParseCgroupFile(raw []byte) []Entry {
	var out []Entry
	for _, line := range strings.Split(string(raw), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		id, err := strconv.Atoi(parts[0])
		if err != nil {
			continue
		}
		e := Entry{HierarchyID: id, Path: parts[2]}
		if parts[1] != "" {
			e.Controllers = strings.Split(parts[1], ",")
		}
		out = append(out, e)
	}
	return out
}

// ReadCgroupFile reads and parses procRoot/<pid>/cgroup (procRoot is
// normally /proc).
func ReadCgroupFile(procRoot string, pid int64) ([]Entry, error) {
	raw, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatInt(pid, 10), "cgroup"))
	if err != nil {
		return nil, err
	}
	return ParseCgroupFile(raw), nil
}

// PickPath chooses the path that names the process's container: the v2
// path when not the root, else the cpu controller's v1 path, else the first
// non-root path.
func PickPath(entries []Entry) string {
	var v2, cpu, first string
	for _, e := range entries {
		switch {
		case e.Unified():
			v2 = e.Path
		case e.Has("cpu"):
			cpu = e.Path
		}
		if first == "" && e.Path != "/" && e.Path != "" {
			first = e.Path
		}
	}
	switch {
	case v2 != "" && v2 != "/":
		return v2
	case cpu != "" && cpu != "/":
		return cpu
	case first != "":
		return first
	case v2 != "":
		return v2
	}
	return cpu
}

// Cgroup is what a cgroup path says about the container around a process.
type Cgroup struct {
	// Runtime names the container runtime ("docker", "containerd", "crio",
	// "podman"; "kubepods" when only the pod slice is visible); empty
	// outside a container.
	Runtime     string
	ContainerID string
	PodUID      string
}

var (
	// The one container-id rule: a path segment that is the 64-hex id,
	// either in a systemd-driver scope (docker-<id>.scope,
	// cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope) or
	// bare below a runtime's cgroup (cgroupfs driver: /docker/<id>,
	// /kubepods/.../<id>). Runtimes always name cgroups with the full id;
	// the 12-hex short form is a display name only, and accepting it would
	// let any scope named like one pass for a container.
	scopeRe = regexp.MustCompile(`^(docker|cri-containerd|crio|containerd|libpod)-([0-9a-f]{64})(?:\.scope)?$`)
	plainRe = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// The kubelet's pod cgroup: pod<uid>, with underscores under the systemd driver.
	podRe = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`)
)

// scopeRuntime names the runtime of a scope's prefix.
var scopeRuntime = map[string]string{
	"docker":         "docker",
	"cri-containerd": "containerd",
	"containerd":     "containerd",
	"crio":           "crio",
	"libpod":         "podman",
}

// parentRuntimes are the names a runtime's parent cgroup contains
// (cgroupfs driver), in the order they are tried on one segment.
var parentRuntimes = []string{"docker", "kubepods", "containerd", "crio"}

// ParseCgroup reads the runtime, container id and pod uid out of a cgroup
// path (v1 or v2, systemd or cgroupfs driver).
//
// The outermost runtime-named cgroup wins, and nothing at or below a
// user's delegated subtree (user.slice) counts: there, and inside a
// container that was delegated its cgroup, any user may create a cgroup
// named docker-<id>.scope after another container's id (ids are readable
// in every /proc/<pid>/cgroup) and have its processes taken for that
// container's. So rootless containers are known by pid and cgroup path,
// not by container id.
func ParseCgroup(path string) Cgroup {
	var c Cgroup
	segs := trustedSegments(path)
	if m := podRe.FindStringSubmatch(strings.Join(segs, "/")); m != nil {
		c.PodUID = strings.ReplaceAll(m[1], "_", "-")
		c.Runtime = "kubepods"
	}
	if rt, id := container(segs); id != "" {
		c.Runtime, c.ContainerID = rt, id
	} else if c.Runtime == "" && slices.ContainsFunc(segs, func(s string) bool { return strings.Contains(s, "kubepods") }) {
		c.Runtime = "kubepods"
	}
	return c
}

// ContainerID is the container id a cgroup path names, "" when none
// (ParseCgroup's rule, without the pod).
func ContainerID(path string) string {
	_, id := container(trustedSegments(path))
	return id
}

// trustedSegments splits a cgroup path and drops a user's delegated
// subtree (user.slice and below).
func trustedSegments(path string) []string {
	segs := strings.Split(path, "/")
	if i := slices.Index(segs, "user.slice"); i >= 0 {
		segs = segs[:i]
	}
	return segs
}

// container finds the outermost segment naming a container: its runtime
// and id, "" when none.
func container(segs []string) (runtime, id string) {
	for i, s := range segs {
		if m := scopeRe.FindStringSubmatch(s); m != nil {
			return scopeRuntime[m[1]], m[2]
		}
		if plainRe.MatchString(s) {
			if rt := parentRuntime(segs[:i]); rt != "" {
				return rt, s
			}
		}
	}
	return "", ""
}

// parentRuntime names the runtime of the outermost parent cgroup that
// names one, "" when none does.
func parentRuntime(parents []string) string {
	for _, p := range parents {
		for _, rt := range parentRuntimes {
			if strings.Contains(p, rt) {
				return rt
			}
		}
	}
	return ""
}
