package procinfo

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Backing is the disk under a loop device: the block device holding the
// loop's backing file, walked up from a partition to its disk, and that
// disk's driver ("virtio_blk", "nvme", …).
type Backing struct {
	Device string
	Driver string
}

// backingTTL bounds how long a resolution is reused: loop devices are
// detached and re-attached to other files.
const backingTTL = 10 * time.Second

type backingEntry struct {
	b  Backing
	ok bool
	at time.Time
}

var backings sync.Map // loop name → backingEntry

// LoopBacking resolves a loop device ("loop3") to its backing disk:
// /sys/block/loopN/loop/backing_file → the file's st_dev →
// /sys/dev/block/MAJ:MIN → the device, its parent disk when it is a
// partition, and the disk's driver. A loop on a loop resolves through.
// false when name is not a loop device or its file is on no block device
// (tmpfs, overlay on tmpfs).
func LoopBacking(name string) (Backing, bool) {
	if !strings.HasPrefix(name, "loop") {
		return Backing{}, false
	}
	now := time.Now()
	if v, ok := backings.Load(name); ok {
		if e := v.(backingEntry); now.Sub(e.at) < backingTTL {
			return e.b, e.ok
		}
	}
	b, ok := loopBacking("/sys", name, 4)
	backings.Store(name, backingEntry{b: b, ok: ok, at: now})
	return b, ok
}

func loopBacking(sys, name string, depth int) (Backing, bool) {
	raw, err := os.ReadFile(filepath.Join(sys, "block", name, "loop", "backing_file"))
	if err != nil {
		return Backing{}, false
	}
	file := strings.TrimSuffix(strings.TrimSpace(string(raw)), " (deleted)")
	var st unix.Stat_t
	if err := unix.Stat(file, &st); err != nil {
		return Backing{}, false
	}
	maj, minor := unix.Major(st.Dev), unix.Minor(st.Dev)
	if maj == 0 {
		return Backing{}, false // anonymous device: tmpfs, overlay, …
	}
	disk, ok := diskOf(sys, maj, minor)
	if !ok {
		return Backing{}, false
	}
	if strings.HasPrefix(disk, "loop") && depth > 0 {
		return loopBacking(sys, disk, depth-1)
	}
	b := Backing{Device: disk}
	if link, err := os.Readlink(filepath.Join(sys, "block", disk, "device", "driver")); err == nil {
		b.Driver = filepath.Base(link)
	}
	return b, true
}

// diskOf names the disk of device MAJ:MIN: the device itself, or the disk a
// partition belongs to.
func diskOf(sys string, maj, minor uint32) (string, bool) {
	dir, err := filepath.EvalSymlinks(filepath.Join(sys, "dev", "block", strconv.FormatUint(uint64(maj), 10)+":"+strconv.FormatUint(uint64(minor), 10)))
	if err != nil {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		dir = filepath.Dir(dir)
	}
	return filepath.Base(dir), true
}
