package probes

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// Every probe attaches on this machine's kernel (docs/design.md §6: the development
// and CI kernel has every hook these probes use).
func TestLoadAttachesEveryProbe(t *testing.T) {
	testenv.RequireRoot(t)
	set, err := Load(Options{RingBufferBytes: 1 << 16, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	defer set.Close()
	assert.Empty(t, set.Failed())
	assert.Equal(t, Names(), set.Attached())
	// Names come from the kernel's BTF, not a table.
	assert.Equal(t, "NETFILTER_DROP", set.Names().DropReason(12))
}
