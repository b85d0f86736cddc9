package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; 100
// on every Linux architecture Go supports.
const clockTicks = 100

// cpuTicks returns utime+stime of pid from /proc/<pid>/stat.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after it start
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	u, err1 := strconv.ParseUint(fields[11], 10, 64)
	s, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat utime/stime", pid)
	}
	return u + s, nil
}

// rssBytes returns VmRSS of pid.
func rssBytes(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// usage is what a sampler measured over a window.
type usage struct {
	CPUPercent float64 // of one core
	RSSMeanMiB float64
	RSSMaxMiB  float64
	Window     time.Duration
}

// sampler measures a process's CPU over a window and samples its RSS.
type sampler struct {
	pid       int
	start     time.Time
	startTick uint64
	stop      chan struct{}
	wg        sync.WaitGroup

	mu     sync.Mutex
	rssSum float64
	rssN   int
	rssMax uint64
}

func startSampler(pid int, every time.Duration) (*sampler, error) {
	t, err := cpuTicks(pid)
	if err != nil {
		return nil, err
	}
	s := &sampler{pid: pid, start: time.Now(), startTick: t, stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			s.sampleRSS()
			select {
			case <-s.stop:
				return
			case <-tk.C:
			}
		}
	}()
	return s, nil
}

func (s *sampler) sampleRSS() {
	r, err := rssBytes(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rssSum += float64(r)
	s.rssN++
	s.rssMax = max(s.rssMax, r)
}

func (s *sampler) finish() (usage, error) {
	close(s.stop)
	s.wg.Wait()
	t, err := cpuTicks(s.pid)
	if err != nil {
		return usage{}, err
	}
	window := time.Since(s.start)
	s.mu.Lock()
	defer s.mu.Unlock()
	u := usage{
		CPUPercent: float64(t-s.startTick) / clockTicks / window.Seconds() * 100,
		RSSMaxMiB:  float64(s.rssMax) / (1 << 20),
		Window:     window,
	}
	if s.rssN > 0 {
		u.RSSMeanMiB = s.rssSum / float64(s.rssN) / (1 << 20)
	}
	return u, nil
}
