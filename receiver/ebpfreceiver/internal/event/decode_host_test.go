package event

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/procinfo"
)

func hostRecords() map[Type][]byte {
	le := binary.LittleEndian
	sched := make([]byte, SchedDelaySize)
	putHeader(sched, TypeSchedDelay, 1e9, 100, "busy")
	le.PutUint64(sched[schedDelayNs:], 90e6)

	block := make([]byte, BlockIOSize)
	putHeader(block, TypeBlockIO, 1e9, 101, "dd")
	le.PutUint64(block[blockLatencyNs:], 70e6)
	le.PutUint64(block[blockQueueNs:], 1e6)
	le.PutUint64(block[blockSector:], 2048)
	le.PutUint32(block[blockDev:], 7<<20|999)
	le.PutUint32(block[blockBytes:], 4096)
	le.PutUint32(block[blockOp:], 1)

	sc := make([]byte, SyscallSize)
	putHeader(sc, TypeSyscallSlow, 1e9, 102, "client")
	le.PutUint64(sc[syscallLatencyNs:], 55e6)
	le.PutUint32(sc[syscallNr:], unix.SYS_CONNECT)
	le.PutUint32(sc[syscallPhase:], PhaseEntry)
	le.PutUint32(sc[syscallSeccomp:], 2)
	copy(sc[syscallPeerAddr:], []byte{198, 18, 192, 7})
	le.PutUint16(sc[syscallPeerFam:], afInet)
	le.PutUint16(sc[syscallPeerPort:], 8443)
	le.PutUint64(sc[syscallOffCPUNs:], 54e6)

	thr := make([]byte, CPUThrottledSize)
	putHeader(thr, TypeCPUThrottled, 1e9, 104, "spin")
	le.PutUint64(thr[cpuThrottledNs:], 80e6)

	oom := make([]byte, OOMKillSize)
	putHeader(oom, TypeOOMKill, 1e9, 103, "hog")
	le.PutUint64(oom[oomTotalVM:], 12345)
	copy(oom[oomExe:], "memory-hog-server") // longer than a comm
	return map[Type][]byte{TypeSchedDelay: sched, TypeBlockIO: block, TypeSyscallSlow: sc, TypeOOMKill: oom, TypeCPUThrottled: thr}
}

func TestDecodeHostRecords(t *testing.T) {
	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	// A fixture /proc with no such pids: identity stays empty, decoding
	// must not depend on the process still being there.
	procs := procinfo.New(t.TempDir(), t.TempDir(), 16, time.Minute)
	d := &Decoder{Clock: fixedClock{base}, Procs: procs}
	recs := hostRecords()
	tests := []struct {
		typ  Type
		name string
		want map[string]any
	}{
		{TypeSchedDelay, contract.EventSchedDelay, map[string]any{
			contract.AttrSchedDelayNs: int64(90e6), contract.AttrIsolationLayer: contract.LayerApp,
			contract.AttrProcessPID: int64(100), contract.AttrThreadName: "busy",
		}},
		{TypeBlockIO, contract.EventBlockIO, map[string]any{
			contract.AttrBlockDevice: "7:999", contract.AttrBlockOp: "write", contract.AttrBlockLatencyNs: int64(70e6),
			contract.AttrBlockQueueNs: int64(1e6), contract.AttrBlockBytes: int64(4096), contract.AttrBlockSector: int64(2048),
			contract.AttrIsolationLayer: contract.LayerL0, contract.AttrProcessPID: int64(101),
		}},
		{TypeSyscallSlow, contract.EventSyscallSlow, map[string]any{
			contract.AttrSyscallName: "connect", contract.AttrSyscallPhase: "entry", contract.AttrSyscallLatencyNs: int64(55e6),
			contract.AttrSeccompMode: int64(2), contract.AttrIsolationLayer: contract.LayerL4, contract.AttrProcessPID: int64(102),
			contract.AttrNetworkPeerAddress: "198.18.192.7", contract.AttrNetworkPeerPort: int64(8443),
			contract.AttrNetworkType: "ipv4", contract.AttrNetworkTransport: "tcp", contract.AttrSyscallOffCPUNs: int64(54e6),
		}},
		{TypeCPUThrottled, contract.EventCgroupThrottle, map[string]any{
			// One thread's throttled wait: measured, no interval, no periods.
			contract.AttrCgroupThrottledNs: int64(80e6), contract.AttrIsolationLayer: contract.LayerL3,
			contract.AttrProcessPID: int64(104), contract.AttrThreadName: "spin",
			contract.AttrIntervalStart: nil, contract.AttrCgroupThrottledPeriods: nil,
		}},
		{TypeOOMKill, contract.EventOOMKill, map[string]any{
			contract.AttrProcessTotalVMPages: int64(12345), contract.AttrIsolationLayer: contract.LayerL3,
			contract.AttrProcessPID: int64(103), contract.AttrThreadName: "hog",
			contract.AttrProcessExecutable: "memory-hog-server",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := plog.NewLogRecordSlice()
			typ, err := d.Decode(recs[tt.typ], dst)
			require.NoError(t, err)
			require.Equal(t, tt.typ, typ)
			require.Equal(t, 1, dst.Len())
			lr := dst.At(0)
			assert.Equal(t, tt.name, lr.EventName())
			assert.Equal(t, base.Add(time.Second), lr.Timestamp().AsTime())
			got := lr.Attributes().AsRaw()
			for k, v := range tt.want {
				assert.Equal(t, v, got[k], k)
			}
			assert.NotEmpty(t, lr.Body().Str())
		})
	}
}

func TestDecodeHostIdentityFromLiveProcess(t *testing.T) {
	raw := hostRecords()[TypeSyscallSlow]
	binary.LittleEndian.PutUint32(raw[headerPID:], uint32(os.Getpid()))
	binary.LittleEndian.PutUint32(raw[syscallPhase:], PhaseBody)
	dst := plog.NewLogRecordSlice()
	_, err := (&Decoder{Clock: fixedClock{}, Procs: procinfo.Default()}).Decode(raw, dst)
	require.NoError(t, err)
	path, ok := dst.At(0).Attributes().Get(contract.AttrCgroupPath)
	require.True(t, ok, "a live process gets its cgroup path")
	assert.NotEmpty(t, path.Str())
	phase, _ := dst.At(0).Attributes().Get(contract.AttrSyscallPhase)
	assert.Equal(t, "body", phase.Str())
}

func TestBlockOpAndSyscallNames(t *testing.T) {
	assert.Equal(t, "write_zeroes", BlockOpName(9))
	assert.Equal(t, "op_77", BlockOpName(77))
	assert.Equal(t, "syscall_9999", SyscallName(9999))
}

func TestDecodeHostRejectsShortRecords(t *testing.T) {
	for typ, raw := range hostRecords() {
		dst := plog.NewLogRecordSlice()
		_, err := (&Decoder{Clock: fixedClock{}}).Decode(raw[:len(raw)-1], dst)
		require.Error(t, err, "type %d", typ)
		assert.Equal(t, 0, dst.Len())
	}
}

// A slow futex body of a process in a container cgroup decodes as "app":
// the e2e run's ~19k L3 futex records were placement mistaken for cause.
func TestDecodeSyscallBodyInContainerIsApp(t *testing.T) {
	proc := t.TempDir()
	require.NoError(t, os.MkdirAll(proc+"/4242", 0o755))
	require.NoError(t, os.WriteFile(proc+"/4242/cgroup",
		[]byte("4:cpu,cpuacct:/kubepods/pod1/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n0::/kubepods/pod1/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"), 0o644))
	procs := procinfo.New(proc, t.TempDir(), 16, time.Minute)
	raw := hostRecords()[TypeSyscallSlow]
	le := binary.LittleEndian
	le.PutUint32(raw[headerPID:], 4242)
	le.PutUint32(raw[syscallNr:], unix.SYS_FUTEX)
	le.PutUint32(raw[syscallPhase:], PhaseBody)
	le.PutUint32(raw[syscallSeccomp:], 0)
	dst := plog.NewLogRecordSlice()
	_, err := (&Decoder{Clock: fixedClock{}, Procs: procs}).Decode(raw, dst)
	require.NoError(t, err)
	got := dst.At(0).Attributes().AsRaw()
	require.Contains(t, got[contract.AttrCgroupPath], "cri-containerd-", "fixture must put the process in a container")
	assert.Equal(t, "futex", got[contract.AttrSyscallName])
	assert.Equal(t, contract.LayerApp, got[contract.AttrIsolationLayer])
}

func TestDecodeSyscallConnectPeer(t *testing.T) {
	le := binary.LittleEndian
	mapped := netip.MustParseAddr("::ffff:198.18.192.9").As16()
	v6 := netip.MustParseAddr("2001:db8::5").As16()
	tests := []struct {
		name     string
		nr       int
		family   uint16
		addr     []byte
		port     uint16
		wantAddr string
		wantType string
	}{
		{"ipv4", unix.SYS_CONNECT, afInet, []byte{127, 0, 0, 1}, 80, "127.0.0.1", "ipv4"},
		{"ipv6", unix.SYS_CONNECT, afInet6, v6[:], 443, "2001:db8::5", "ipv6"},
		{"ipv4-mapped ipv6 is ipv4", unix.SYS_CONNECT, afInet6, mapped[:], 8080, "198.18.192.9", "ipv4"},
		{"unix socket: no peer", unix.SYS_CONNECT, 1, nil, 0, "", ""},
		{"futex: no peer", unix.SYS_FUTEX, 0, nil, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := hostRecords()[TypeSyscallSlow]
			clear(raw[syscallPeerAddr : syscallPeerAddr+20])
			le.PutUint32(raw[syscallNr:], uint32(tt.nr))
			le.PutUint32(raw[syscallPhase:], PhaseBody)
			copy(raw[syscallPeerAddr:], tt.addr)
			le.PutUint16(raw[syscallPeerFam:], tt.family)
			le.PutUint16(raw[syscallPeerPort:], tt.port)
			dst := plog.NewLogRecordSlice()
			_, err := (&Decoder{Clock: fixedClock{}}).Decode(raw, dst)
			require.NoError(t, err)
			got := dst.At(0).Attributes().AsRaw()
			if tt.wantAddr == "" {
				assert.NotContains(t, got, contract.AttrNetworkPeerAddress)
				assert.NotContains(t, got, contract.AttrNetworkPeerPort)
				assert.NotContains(t, got, contract.AttrNetworkTransport)
				return
			}
			assert.Equal(t, tt.wantAddr, got[contract.AttrNetworkPeerAddress])
			assert.Equal(t, int64(tt.port), got[contract.AttrNetworkPeerPort])
			assert.Equal(t, tt.wantType, got[contract.AttrNetworkType])
			assert.Equal(t, "tcp", got[contract.AttrNetworkTransport])
			assert.Equal(t, contract.LayerApp, got[contract.AttrIsolationLayer], "a slow connect body is not a layer")
		})
	}
}
