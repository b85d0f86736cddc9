package identity

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Seccomp modes as /proc/<pid>/status prints them.
const (
	SeccompDisabled = 0
	SeccompStrict   = 1
	SeccompFilter   = 2
)

// ParseSeccompMode reads the Seccomp: line of a /proc/<pid>/status text:
// SeccompDisabled, SeccompStrict or SeccompFilter; -1 when the line is
// missing or unreadable (a kernel without CONFIG_SECCOMP).
func ParseSeccompMode(status []byte) int {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// ReadSeccompMode reads procRoot/<pid>/status (procRoot is normally
// /proc): the mode, -1 when the line is missing; an error when the process
// is gone.
func ReadSeccompMode(procRoot string, pid int64) (int, error) {
	raw, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatInt(pid, 10), "status"))
	if err != nil {
		return -1, err
	}
	return ParseSeccompMode(raw), nil
}
