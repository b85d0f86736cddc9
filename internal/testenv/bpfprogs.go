package testenv

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// LoadedPrograms returns the names of the BPF programs loaded in the kernel
// whose name starts with prefix (the kernel keeps 15 characters of a name).
func LoadedPrograms(t testing.TB, prefix string) []string {
	t.Helper()
	var names []string
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return names
		}
		if err != nil {
			t.Fatalf("iterate BPF programs: %v", err)
		}
		id = next
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // unloaded meanwhile
		}
		info, err := prog.Info()
		_ = prog.Close()
		if err == nil && strings.HasPrefix(info.Name, prefix) {
			names = append(names, info.Name)
		}
	}
}
