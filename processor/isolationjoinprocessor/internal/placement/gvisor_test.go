package placement

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// TestProcessInGVisor places a real gVisor sandbox (runsc, ptrace
// platform): the Sentry (runsc-sandbox, which owns the application's host
// sockets) and the stub process the application's code runs in (traced by
// the Sentry) are both L4 gvisor on top of the node.
func TestProcessInGVisor(t *testing.T) {
	sb := testenv.StartGVisor(t, nil, "/bin/sleep", "30")
	fs := FS{Root: "/"}
	node, err := fs.Node()
	require.NoError(t, err)

	// While it starts, the Sentry also traces stubs that exit at once: a
	// stub gone before it was placed is looked for again.
	var stub int64
	require.Eventually(t, func() bool {
		if stub = tracedChild(sb.SentryPID); stub == 0 {
			return false
		}
		_, err := fs.Process(stub, node)
		return !errors.Is(err, iofs.ErrNotExist)
	}, 15*time.Second, 20*time.Millisecond, "a stub process traced by the Sentry %d", sb.SentryPID)

	for name, pid := range map[string]int64{"sentry": int64(sb.SentryPID), "stub": stub} {
		p, err := fs.Process(pid, node)
		require.NoError(t, err, name)
		assert.Equal(t, "L4", p.Stack.Innermost(), name)
		assert.Equal(t, Level{"L4", "gvisor"}, p.Stack[0], name)
		assert.True(t, strings.HasPrefix(p.Stack.String(), "L4 gvisor/"), "%s: %s", name, p.Stack)
	}
}

// tracedChild is a process under the Sentry that a Sentry thread traces.
func tracedChild(sentry int) int64 {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int64
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		var tgid, tracer int
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "TracerPid:"); ok {
				_, _ = fmt.Sscan(v, &tracer)
			}
		}
		if tracer == 0 {
			continue
		}
		tstatus, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tracer))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(tstatus), "\n") {
			if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
				_, _ = fmt.Sscan(v, &tgid)
			}
		}
		if tgid == sentry {
			return pid
		}
	}
	return 0
}
