package isolationjoinprocessor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/placement"
)

func TestVirtioBackedBlockIO(t *testing.T) {
	ms := time.Millisecond
	io := func(at time.Duration, p int, cgroup, dev, backing string, lat time.Duration) kernelEvent {
		a := kv{contract.AttrProcessPID: p, contract.AttrCgroupPath: cgroup, contract.AttrBlockDevice: dev,
			contract.AttrBlockLatencyNs: int64(lat), contract.AttrIsolationLayer: contract.LayerL3}
		if backing != "" {
			a[kevent.AttrBlockBackingDevice] = backing
		}
		return kernelEvent{name: contract.EventBlockIO, at: at, attrs: a}
	}
	tests := []struct {
		name      string
		events    []kernelEvent
		wantLayer string
		cause     string // substring
		notCause  string
	}{
		{
			name: "loop on virtio, a neighbour's IO on the same disk",
			events: []kernelEvent{
				io(80*ms, pid, "/chx-e2e-app", "loop0", "vda", 60*ms),
				io(70*ms, 99, "/chx-e2e-neighbour", "loop1", "vda", 90*ms),
				io(90*ms, 98, "/chx-e2e-other", "loop2", "vda", 20*ms),
				io(90*ms, 10, "/", "loop1", "vda", 95*ms), // writeback of the root cgroup: nobody's
				io(90*ms, 97, "/chx-e2e-elsewhere", "sda", "", 95*ms),
			},
			wantLayer: contract.LayerL2, cause: "noisy neighbour /chx-e2e-neighbour (slow io on vda)",
		},
		{
			name:      "loop on virtio, only the span's own IO",
			events:    []kernelEvent{io(80*ms, pid, "/chx-e2e-app", "loop0", "vda", 60*ms)},
			wantLayer: contract.LayerL2, notCause: "noisy neighbour",
		},
		{
			name:      "no backing device: the record's own layer",
			events:    []kernelEvent{io(80*ms, pid, "/chx-e2e-app", "loop0", "", 60*ms)},
			wantLayer: contract.LayerL3, notCause: "noisy neighbour",
		},
		{
			name:      "loop on a non-virtio disk: the record's own layer",
			events:    []kernelEvent{io(80*ms, pid, "/chx-e2e-app", "loop0", "sda", 60*ms)},
			wantLayer: contract.LayerL3, notCause: "noisy neighbour",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "proc", strconv.Itoa(pid))
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::/chx-e2e-app\n"), 0o644))
			p, _, clock := newTestProcessor(t, createDefaultConfig())
			p.resolver = placement.NewResolver(placement.FS{Root: root}, nil, time.Minute, 16, clock.Now)
			_, err := p.processLogs(context.Background(), eventLogs(tt.events...))
			require.NoError(t, err)
			span := testSpan{kind: ptrace.SpanKindServer, resource: kv{"process.pid": pid, "host.name": hostname(t)}}
			td, err := p.processTraces(context.Background(), spanTraces(span))
			require.NoError(t, err)
			s := allSpans(td)[0]
			cause, _ := attr(s, attrCause).(string)
			assert.Equal(t, tt.wantLayer, attr(s, contract.AttrIsolationLayer), cause)
			if tt.cause != "" {
				assert.Contains(t, cause, tt.cause)
			}
			if tt.notCause != "" {
				assert.NotContains(t, cause, tt.notCause)
			}
		})
	}
}

func TestFsyncWhileTheVirtioDiskIsSlow(t *testing.T) {
	ms := time.Millisecond
	fsync := func(at time.Duration, p int, cgroup string, lat time.Duration) kernelEvent {
		return kernelEvent{name: contract.EventSyscallSlow, at: at, attrs: kv{
			contract.AttrProcessPID: p, contract.AttrCgroupPath: cgroup, contract.AttrSyscallName: "fsync",
			contract.AttrSyscallPhase: "body", contract.AttrSyscallLatencyNs: int64(lat), contract.AttrIsolationLayer: contract.LayerApp,
		}}
	}
	io := func(at time.Duration, p int, cgroup, dev, backing string, lat time.Duration) kernelEvent {
		a := kv{contract.AttrProcessPID: p, contract.AttrCgroupPath: cgroup, contract.AttrBlockDevice: dev,
			contract.AttrBlockLatencyNs: int64(lat), contract.AttrIsolationLayer: contract.LayerL1}
		if backing != "" {
			a[kevent.AttrBlockBackingDevice] = backing
		}
		return kernelEvent{name: contract.EventBlockIO, at: at, attrs: a}
	}
	tests := []struct {
		name      string
		events    []kernelEvent
		wantLayer string
		cause     string
	}{
		{
			name: "fsync, the loop worker's IO on vda slow, the neighbour's fsyncs",
			events: []kernelEvent{
				fsync(80*ms, pid, "/chx-e2e-app", 60*ms),
				io(75*ms, 1420, "/", "vda", "", 40*ms), // the loop worker: nobody's
				fsync(85*ms, 99, "/chx-e2e-neighbour", 70*ms),
			},
			wantLayer: contract.LayerL2, cause: "noisy neighbour /chx-e2e-neighbour (slow io on vda)",
		},
		{
			name: "fsync, the neighbour's requests on the loop device",
			events: []kernelEvent{
				fsync(80*ms, pid, "/chx-e2e-app", 60*ms),
				io(70*ms, 99, "/chx-e2e-neighbour", "loop0", "vda", 30*ms),
			},
			wantLayer: contract.LayerL2, cause: "noisy neighbour /chx-e2e-neighbour",
		},
		{
			name:      "fsync, the disk is not slow: the application's",
			events:    []kernelEvent{fsync(80*ms, pid, "/chx-e2e-app", 60*ms)},
			wantLayer: contract.LayerApp,
		},
		{
			name: "fsync, slow IO on a non-virtio disk: the application's",
			events: []kernelEvent{
				fsync(80*ms, pid, "/chx-e2e-app", 60*ms),
				io(75*ms, 1420, "/", "sda", "", 40*ms),
			},
			wantLayer: contract.LayerApp,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "proc", strconv.Itoa(pid))
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::/chx-e2e-app\n"), 0o644))
			p, _, clock := newTestProcessor(t, createDefaultConfig())
			p.resolver = placement.NewResolver(placement.FS{Root: root}, nil, time.Minute, 16, clock.Now)
			_, err := p.processLogs(context.Background(), eventLogs(tt.events...))
			require.NoError(t, err)
			span := testSpan{kind: ptrace.SpanKindServer, resource: kv{"process.pid": pid, "host.name": hostname(t)}}
			td, err := p.processTraces(context.Background(), spanTraces(span))
			require.NoError(t, err)
			s := allSpans(td)[0]
			cause, _ := attr(s, attrCause).(string)
			assert.Equal(t, tt.wantLayer, attr(s, contract.AttrIsolationLayer), cause)
			if tt.cause != "" {
				assert.Contains(t, cause, tt.cause)
			}
		})
	}
}
