package probes

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
)

// Where the sched_switch program cannot run, syscall_slow says so once and
// measures on the watched syscalls' tracepoints: a read blocked on a pipe
// for 80ms is still one slow read body, with its return value.
func TestSyscallFallbackOnTracepoints(t *testing.T) {
	testenv.RequireRoot(t)
	if err := testenv.MountTracefs(); err != nil {
		testenv.SkipOrFail(t, "tracefs: %v", err)
	}
	core, logs := observer.New(zap.WarnLevel)
	s, err := Load(Options{
		Enabled:         []string{"syscall_slow"},
		RingBufferBytes: 1 << 16,
		Logger:          zap.New(core),
		Host:            &HostOptions{Syscalls: []string{"read"}, forceSyscallTracepoints: true},
	})
	require.NoError(t, err)
	defer s.Close()
	require.Len(t, logs.FilterMessageSnippet("falling back to syscall tracepoints").All(), 1)
	var tracepoints int
	for _, id := range testenv.OwnPrograms(t) {
		p, err := ebpf.NewProgramFromID(id)
		require.NoError(t, err)
		if info, err := p.Info(); err == nil && info.Type == ebpf.TracePoint {
			tracepoints++
		}
		_ = p.Close()
	}
	assert.Positive(t, tracepoints, "syscall tracepoint programs loaded")

	rd, err := ringbuf.NewReader(s.Events)
	require.NoError(t, err)
	defer rd.Close()

	var p [2]int
	require.NoError(t, unix.Pipe(p[:]))
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	go func() {
		time.Sleep(80 * time.Millisecond)
		_, _ = unix.Write(p[1], []byte("x"))
	}()
	tid := make(chan int, 1)
	go func() {
		// One thread does the read: its tid is the record's.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		buf := make([]byte, 1)
		tid <- unix.Gettid()
		_, _ = unix.Read(p[0], buf)
	}()
	want := <-tid
	rd.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		rec, err := rd.Read()
		require.NoError(t, err, "no slow read record from thread %d", want)
		h, err := event.DecodeHeader(rec.RawSample)
		require.NoError(t, err)
		if h.Type != event.TypeSyscallSlow || int(h.TID) != want {
			continue
		}
		lat := time.Duration(binary.LittleEndian.Uint64(rec.RawSample[event.HeaderSize:]))
		assert.GreaterOrEqual(t, lat, 50*time.Millisecond)
		assert.Equal(t, uint32(1), binary.LittleEndian.Uint32(rec.RawSample[event.SyscallFlagsAt:])&1, "the fallback sees the return value")
		return
	}
}
