package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler fetches the CPU profile of a collector under load from its
// pprof extension (-profile DIR), so the cost at 10k spans/s can be read
// where it is paid, not only in the component benchmarks.
type profiler struct {
	done chan error
}

// startProfile asks the pprof extension at addr for a CPU profile of d
// and writes it to dir/name.cpu.pprof when it arrives.
func startProfile(addr, dir, name string, d time.Duration) *profiler {
	p := &profiler{done: make(chan error, 1)}
	go func() {
		p.done <- fetchTo(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), filepath.Join(dir, name+".cpu.pprof"), d+30*time.Second)
	}()
	return p
}

func (p *profiler) wait() error { return <-p.done }

// fetchTo writes the body of url to path.
func fetchTo(url, path string, timeout time.Duration) error {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("profile file: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	return f.Close()
}
