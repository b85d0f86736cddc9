package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// OwnPrograms returns the ids of the BPF programs this process holds a file
// descriptor of (from /proc/self/fdinfo). It does not
// see programs other processes load on the same kernel meanwhile.
func OwnPrograms(t testing.TB) []ebpf.ProgramID {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("list own file descriptors: %v", err)
	}
	var ids []ebpf.ProgramID
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || target != "anon_inode:bpf-prog" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					ids = append(ids, ebpf.ProgramID(id))
				}
			}
		}
	}
	return ids
}

// ProgramsAlive returns which of ids are still loaded in the kernel.
func ProgramsAlive(ids []ebpf.ProgramID) []ebpf.ProgramID {
	var alive []ebpf.ProgramID
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			_ = p.Close()
		}
		alive = append(alive, id)
	}
	return alive
}
