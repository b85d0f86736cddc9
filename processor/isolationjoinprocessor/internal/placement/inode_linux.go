//go:build linux

package placement

import (
	"os"
	"syscall"
)

func inode(st os.FileInfo) (int64, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int64(s.Ino), true
}
