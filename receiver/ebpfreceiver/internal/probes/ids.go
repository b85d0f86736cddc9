package probes

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// ProgramIDs returns the kernel ids of the programs the Set attached (read
// through their links), so tests can check that exactly these are gone after
// Close even while other BPF users load programs of the same names.
func (s *Set) ProgramIDs() []ebpf.ProgramID {
	var ids []ebpf.ProgramID
	for _, name := range s.attached {
		for _, c := range s.attachments[name].closers {
			l, ok := c.(link.Link)
			if !ok {
				continue
			}
			if info, err := l.Info(); err == nil {
				ids = append(ids, info.Program)
			}
		}
	}
	return ids
}
