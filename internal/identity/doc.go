// Package identity reads who a process is from what the kernel exposes
// about it: its cgroups (/proc/<pid>/cgroup), the container and pod a
// cgroup path names, its seccomp mode (/proc/<pid>/status) and whether a
// sandbox runtime (gVisor, Kata, a VMM, a WASM runtime) runs it or one of
// its ancestors. The receiver (attributes of kernel events) and the
// processor (the runtime stack under a span's process) both parse these
// facts here, so the two agree on what a container id is.
package identity
