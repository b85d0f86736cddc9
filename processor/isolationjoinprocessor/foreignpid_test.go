package isolationjoinprocessor

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/placement"
)

// A resource's process.pid from another pid namespace (a service inside a
// gVisor sandbox reports pid 1) names a different local process: its comm
// does not match process.executable.name, and the join identifies the
// process another way. This test process itself matches.
func TestForeignPID(t *testing.T) {
	fs := placement.FS{Root: "/"}
	self, err := fs.Process(int64(os.Getpid()), nil)
	assert.NoError(t, err)
	init, err := fs.Process(1, nil)
	assert.NoError(t, err)
	res := pcommon.NewMap()
	res.PutStr("process.executable.name", self.Comm+"-with-a-long-name-truncated-by-comm")
	assert.False(t, foreignPID(res, self.Comm), "comm is the executable's first 15 bytes")
	res.PutStr("process.executable.name", "chx-demo")
	assert.True(t, foreignPID(res, init.Comm), "pid 1 here is %q", init.Comm)
	res.Remove("process.executable.name")
	assert.False(t, foreignPID(res, init.Comm), "no executable name: the pid is taken as is")
}
