package placement

import (
	"regexp"
	"strings"
)

// Cgroup is what a cgroup path says about the container around a process.
type Cgroup struct {
	// Runtime names the container runtime ("docker", "containerd", "crio",
	// "kubepods" when only the pod slice is visible); empty outside a container.
	Runtime     string
	ContainerID string
	PodUID      string
}

var (
	// Systemd-driver scopes (docker-<id>.scope, cri-containerd-<id>.scope,
	// crio-<id>.scope) and cgroupfs-driver directories (/docker/<id>,
	// /kubepods/.../<id>) both end in the 64-hex container id.
	scopeRe = regexp.MustCompile(`(docker|cri-containerd|crio|libpod)-([0-9a-f]{12,64})\.scope`)
	dirRe   = regexp.MustCompile(`/(docker|containerd|crio|kubepods)(?:/|\.slice/).*?([0-9a-f]{64})(?:$|/)`)
	podRe   = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`)
)

var scopeRuntime = map[string]string{
	"docker":         "docker",
	"cri-containerd": "containerd",
	"crio":           "crio",
	"libpod":         "podman",
}

// ParseCgroup reads the runtime, container id and pod uid out of a cgroup
// path (v1 or v2, systemd or cgroupfs driver).
//
// Below a user's delegated subtree (user.slice) any user names cgroups,
// and may name one after another container: only the path above it is
// read, and the outermost match wins (inside a container that was
// delegated its cgroup, the runtime's cgroup is above the user's).
func ParseCgroup(path string) Cgroup {
	var c Cgroup
	if i := strings.Index(path, "/user.slice"); i >= 0 {
		path = path[:i]
	}
	if m := podRe.FindStringSubmatch(path); m != nil {
		// The systemd driver writes the pod uid with underscores.
		c.PodUID = strings.ReplaceAll(m[1], "_", "-")
		c.Runtime = "kubepods"
	}
	if m := scopeRe.FindStringSubmatch(path); m != nil {
		c.Runtime = scopeRuntime[m[1]]
		c.ContainerID = m[2]
		return c
	}
	if m := dirRe.FindStringSubmatch(path); m != nil {
		if c.Runtime == "" || m[1] != "kubepods" {
			c.Runtime = m[1]
		}
		c.ContainerID = m[2]
		return c
	}
	if c.Runtime == "" && strings.Contains(path, "kubepods") {
		c.Runtime = "kubepods"
	}
	return c
}
