package identity

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// sandboxRuntimes are the executables that put a second kernel or a
// syscall filter between a process and the node's kernel (docs/design.md
// §1 L4), by name prefix, and the sandbox each one means. gVisor's
// processes are runsc, runsc-sandbox and runsc-gofer; before it renames
// them its sandbox runs as "exe" (a re-exec of /proc/self/exe), a name
// too common to count.
var sandboxRuntimes = []struct{ prefix, sandbox string }{
	{"runsc", "gvisor"},
	{"kata-agent", "kata"},
	{"containerd-shim-kata", "kata"},
	{"kata-runtime", "kata"},
	{"firecracker", "firecracker"},
	{"wasmtime", "wasmtime"},
	{"wasmedge", "wasmedge"},
}

// Sandbox names the sandbox ("gvisor", "kata", "firecracker", "wasmtime",
// "wasmedge") whose runtime an executable or comm name is, "" when none.
func Sandbox(name string) string {
	for _, r := range sandboxRuntimes {
		if strings.HasPrefix(name, r.prefix) {
			return r.sandbox
		}
	}
	return ""
}

// SandboxRuntime reports whether comm (a task's name) is a sandbox
// runtime's process: time a syscall spends in its body is the sandbox's.
func SandboxRuntime(comm string) bool { return Sandbox(comm) != "" }

// maxAncestry bounds the walk up the process tree (a cycle cannot happen,
// but a tree may be deep and every step reads three files).
const maxAncestry = 32

// SandboxAncestry walks pid and its ancestors under procRoot (normally
// /proc) and names the sandbox of the first one whose comm or executable
// is a sandbox runtime's (a gVisor sentry, a Kata shim, a VMM, a WASM
// runtime); "" when none is.
func SandboxAncestry(procRoot string, pid int64) string {
	for depth := 0; pid > 1 && depth < maxAncestry; depth++ {
		base := filepath.Join(procRoot, strconv.FormatInt(pid, 10))
		comm, _ := os.ReadFile(filepath.Join(base, "comm"))
		if sb := Sandbox(strings.TrimSpace(string(comm))); sb != "" {
			return sb
		}
		if exe, err := os.Readlink(filepath.Join(base, "exe")); err == nil {
			if sb := Sandbox(filepath.Base(exe)); sb != "" {
				return sb
			}
		}
		stat, err := os.ReadFile(filepath.Join(base, "stat"))
		if err != nil {
			return ""
		}
		pid = PPid(string(stat))
	}
	return ""
}

// PPid reads the parent pid (field 4) of a /proc/<pid>/stat text; comm
// (field 2) may hold spaces and parentheses, so it parses after the last
// ')'. 0 when the text is malformed.
func PPid(stat string) int64 {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(fields[1], 10, 64)
	return n
}
