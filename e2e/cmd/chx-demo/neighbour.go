package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// neighbour floods a disk from its own cgroup: direct-IO writers (1 MiB
// O_DIRECT writes) and buffered writers that fsync every 256 KiB.
func neighbour(args []string) error {
	fs := flag.NewFlagSet("neighbour", flag.ExitOnError)
	dir := fs.String("dir", "", "directory on the flooded device")
	direct := fs.Int("direct", 3, "O_DIRECT writers")
	fsyncers := fs.Int("fsync", 3, "buffered writers that fsync every 256 KiB")
	fileMB := fs.Int64("file-mb", 64, "size each writer cycles over, MiB")
	cgroups := fs.String("cgroups", "", "comma-separated cgroup directories to join at start")
	_ = fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	if err := joinCgroups(*cgroups); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	size := *fileMB << 20
	var wg sync.WaitGroup
	errs := make(chan error, *direct+*fsyncers)
	writer := func(path string, flags int, chunk int, syncEvery bool) {
		defer wg.Done()
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|flags, 0o644)
		if err != nil {
			errs <- err
			return
		}
		defer f.Close()
		buf := alignedBuf(chunk)
		for off := int64(0); ctx.Err() == nil; off = (off + int64(chunk)) % size {
			if _, err := f.WriteAt(buf, off); err != nil {
				errs <- fmt.Errorf("%s: %w", path, err)
				return
			}
			if syncEvery {
				_ = f.Sync()
			}
		}
	}
	for i := 0; i < *direct; i++ {
		wg.Add(1)
		go writer(filepath.Join(*dir, fmt.Sprintf("direct-%d", i)), unix.O_DIRECT, 1<<20, false)
	}
	for i := 0; i < *fsyncers; i++ {
		wg.Add(1)
		go writer(filepath.Join(*dir, fmt.Sprintf("fsync-%d", i)), 0, 256<<10, true)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}

// alignedBuf returns a buffer aligned to 4 KiB, as O_DIRECT requires.
func alignedBuf(n int) []byte {
	b := make([]byte, n+4096)
	off := int(4096 - uintptr(unsafe.Pointer(&b[0]))%4096)
	if off == 4096 {
		off = 0
	}
	b = b[off : off+n]
	for i := range b {
		b[i] = byte(i)
	}
	return b
}
