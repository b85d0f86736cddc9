package procinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A loop device over a file resolves to the disk holding the file (walked
// up from a partition), with that disk's driver; computed independently
// here from the file's st_dev and sysfs.
func TestLoopBackingRealLoopDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for losetup")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("no losetup")
	}
	file := filepath.Join(t.TempDir(), "disk.img")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	require.NoError(t, os.Truncate(file, 8<<20))
	out, err := exec.Command("losetup", "--find", "--show", file).CombinedOutput()
	require.NoError(t, err, "losetup: %s", out)
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })

	var st unix.Stat_t
	require.NoError(t, unix.Stat(file, &st))
	if unix.Major(st.Dev) == 0 {
		_, ok := LoopBacking(filepath.Base(dev))
		assert.False(t, ok, "a file on an anonymous device (tmpfs/overlay) has no backing disk")
		return
	}
	// The expected disk: /sys/dev/block/MAJ:MIN, up one level if a partition.
	sysDev, err := filepath.EvalSymlinks("/sys/dev/block/" + itoa(unix.Major(st.Dev)) + ":" + itoa(unix.Minor(st.Dev)))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(sysDev, "partition")); err == nil {
		sysDev = filepath.Dir(sysDev)
	}
	want := filepath.Base(sysDev)

	b, ok := LoopBacking(filepath.Base(dev))
	require.True(t, ok, "%s over %s", dev, file)
	assert.Equal(t, want, b.Device)
	assert.NotContains(t, b.Device, "loop")
	if link, err := os.Readlink(filepath.Join("/sys/block", want, "device", "driver")); err == nil {
		assert.Equal(t, filepath.Base(link), b.Driver)
	}
	if strings.HasPrefix(want, "vd") {
		assert.Equal(t, "virtio_blk", b.Driver, "this machine's root disk is virtio")
	}

	_, ok = LoopBacking("vda")
	assert.False(t, ok, "not a loop device")
	_, ok = LoopBacking("loop99999")
	assert.False(t, ok, "no such loop device")
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
