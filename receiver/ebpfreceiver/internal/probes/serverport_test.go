package probes

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerPort(t *testing.T) {
	r := portRange{32768, 60999}
	assert.Equal(t, uint16(8080), r.serverPort(40000, 8080), "client: the peer's port")
	assert.Equal(t, uint16(8080), r.serverPort(8080, 40000), "server: its own port")
	assert.Equal(t, uint16(443), r.serverPort(443, 5432), "neither ephemeral: the lower")
	assert.Equal(t, uint16(33000), r.serverPort(45000, 33000), "both ephemeral: the lower")
}

func TestReadEphemeralRange(t *testing.T) {
	r, err := readEphemeralRange("/proc/sys/net/ipv4/ip_local_port_range")
	require.NoError(t, err)
	assert.Less(t, r.lo, r.hi)
	path := filepath.Join(t.TempDir(), "range")
	require.NoError(t, os.WriteFile(path, []byte("1024\t65000\n"), 0o600))
	r, err = readEphemeralRange(path)
	require.NoError(t, err)
	assert.Equal(t, portRange{1024, 65000}, r)
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
	r, err = readEphemeralRange(path)
	assert.Error(t, err)
	assert.Equal(t, defaultEphemeral, r)
}
