package layers

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

func TestSyscallLayer(t *testing.T) {
	const limit = "write_bps_device=7:0 1048576"
	tests := []struct {
		name    string
		syscall string
		phase   string
		comm    string
		ioLimit string
		want    string
	}{
		{"entry wait is the sandbox slow path", "connect", "entry", "client", "", contract.LayerL4},
		{"entry wait of futex too", "futex", "entry", "app", "", contract.LayerL4},
		{"body in runsc", "futex", "body", "runsc", "", contract.LayerL4},
		{"gVisor stub's syscall traps", "read", "sandbox", "exe", "", contract.LayerL4},
		{"body in wasmtime", "read", "body", "wasmtime", "", contract.LayerL4},
		{"body in kata agent", "write", "body", "kata-agent", "", contract.LayerL4},
		{"comm exe is not a sandbox", "futex", "body", "exe", "", contract.LayerApp},
		{"write in IO-limited cgroup", "write", "body", "dd", limit, contract.LayerL3},
		{"fsync in IO-limited cgroup", "fsync", "body", "dd", limit, contract.LayerL3},
		{"fdatasync in IO-limited cgroup", "fdatasync", "body", "pg", limit, contract.LayerL3},
		{"write without IO limit", "write", "body", "dd", "", contract.LayerApp},
		{"idle futex wait", "futex", "body", "otelcol", "", contract.LayerApp},
		{"idle futex wait in IO-limited cgroup", "futex", "body", "otelcol", limit, contract.LayerApp},
		{"epoll wait in IO-limited cgroup", "epoll_wait", "body", "nginx", limit, contract.LayerApp},
		{"blocking socket read in IO-limited cgroup", "read", "body", "client", limit, contract.LayerApp},
		{"slow connect body", "connect", "body", "client", "", contract.LayerApp},
		{"nanosleep", "nanosleep", "body", "sleep", "", contract.LayerApp},
		{"a body in a container cgroup is placement, not a cause", "read", "body", "app", "", contract.LayerApp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Facts{Event: contract.EventSyscallSlow, SyscallName: tt.syscall, SyscallPhase: tt.phase, Exe: tt.comm, IOLimit: tt.ioLimit,
				CgroupPath: "/kubepods/pod1/cri-containerd-0123"}
			assert.Equal(t, tt.want, Of(&f))
		})
	}
}

func TestBlockLayer(t *testing.T) {
	blk := func(dev string, lat, queue int64, backing, driver string) *Facts {
		return &Facts{Event: contract.EventBlockIO, BlockDevice: dev, BlockLatencyNs: lat, BlockQueueNs: queue,
			BlockBackingDevice: backing, BlockBackingDriver: driver}
	}
	assert.Equal(t, contract.LayerL1, Of(blk("vda", 10e6, 1e3, "", "")), "virtio disk: the host's backing store")
	assert.Equal(t, contract.LayerL2, Of(blk("vdb", 1e6, 5e6, "", "")), "guest-side queue dominates")
	assert.Equal(t, contract.LayerL3, Of(blk("loop3", 1e6, 0, "", "")))
	assert.Equal(t, contract.LayerL3, Of(blk("dm-0", 1e6, 0, "", "")))
	assert.Equal(t, contract.LayerL0, Of(blk("nvme0n1", 1e6, 0, "", "")))
	assert.Equal(t, contract.LayerL2, Of(blk("loop0", 1e6, 0, "vda", "virtio_blk")), "loop over a virtio disk: virtio-blk queue latency")
	assert.Equal(t, contract.LayerL2, Of(blk("loop0", 1e6, 0, "", "virtio_blk")))
	assert.Equal(t, contract.LayerL2, Of(blk("loop0", 1e6, 0, "vda", "")), "a virtio disk by name, driver unknown")
	assert.Equal(t, contract.LayerL3, Of(blk("loop0", 1e6, 0, "nvme0n1", "nvme")))
	assert.Equal(t, contract.LayerL3, Of(blk("loop0", 1e6, 0, "", "")), "backing disk unknown")
	failed := blk("vda", 1e6, 0, "", "")
	failed.BlockError = -5
	assert.Equal(t, contract.LayerL0, Of(failed), "a failed request is the device's")
}

func TestNetworkLayer(t *testing.T) {
	drop := func(reason, driver string) *Facts {
		return &Facts{Event: contract.EventSKBDrop, DropReason: reason, InterfaceDriver: driver}
	}
	assert.Equal(t, contract.LayerL3, Of(drop("NETFILTER_DROP", "veth")))
	assert.Equal(t, contract.LayerL3, Of(drop("NETFILTER_DROP", "virtio_net")), "netfilter wins over the device")
	assert.Equal(t, contract.LayerL3, Of(drop("IPTABLES_DROP", "")))
	assert.Equal(t, contract.LayerL2, Of(drop("QDISC_DROP", "virtio_net")))
	assert.Equal(t, contract.LayerL3, Of(drop("QDISC_DROP", "bridge")))
	assert.Equal(t, contract.LayerNetwork, Of(drop("QDISC_DROP", "ixgbe")))
	assert.Equal(t, contract.LayerL2, Of(&Facts{Event: contract.EventNetTxTimeout, InterfaceDriver: "virtio_net"}))
	assert.Equal(t, contract.LayerL0, Of(&Facts{Event: contract.EventNetTxTimeout, InterfaceDriver: "ixgbe"}))
	for _, n := range []string{contract.EventTCPRetransmit, contract.EventTCPReset, contract.EventTCPConnection, contract.EventTCPEstablished} {
		assert.Equal(t, contract.LayerNetwork, Of(&Facts{Event: n}), n)
	}
}

func TestSchedDelayLayer(t *testing.T) {
	sched := func(path, limit string) *Facts {
		return &Facts{Event: contract.EventSchedDelay, CgroupPath: path, CPULimit: limit}
	}
	assert.Equal(t, contract.LayerL3, Of(sched("/kubepods/pod1/c1", "50000 100000")), "the container's CPU quota")
	assert.Equal(t, contract.LayerApp, Of(sched("/kubepods/pod1/c1", "")), "no limit: the node's CPU contention")
	assert.Equal(t, contract.LayerApp, Of(sched("/user.slice/user-1000.slice", "50000 100000")), "a user session is the host")
	assert.Equal(t, contract.LayerApp, Of(sched("/", "50000 100000")))
}

func TestResolvePrecedence(t *testing.T) {
	configured := Row{Event: contract.EventSchedDelay, Layer: contract.LayerL2, OverRecord: true}
	table := append(Table{configured}, Default...)

	own := Facts{Event: contract.EventSchedDelay, Layer: contract.LayerL1}
	l, row := Default.Resolve(&own)
	assert.Equal(t, contract.LayerL1, l, "the record's own layer beats the table")
	assert.Equal(t, -1, row)
	l, row = table.Resolve(&own)
	assert.Equal(t, contract.LayerL2, l, "a row over the record's layer beats it")
	assert.Equal(t, 0, row)

	loop := Facts{Event: contract.EventBlockIO, BlockDevice: "loop0", BlockBackingDevice: "vda", Layer: contract.LayerL3}
	assert.Equal(t, contract.LayerL2, Of(&loop), "a loop device on a virtio disk, whatever the record said")
	loop.Layer = contract.LayerApp
	assert.Equal(t, contract.LayerApp, Of(&loop), "except app")

	l, row = Default.Resolve(&Facts{Event: "kernel.unknown"})
	assert.Empty(t, l, "no row: evidence for no layer")
	assert.Equal(t, -1, row)
}

// The receiver applies the table to every record it decodes.
func TestOfDoesNotAllocate(t *testing.T) {
	f := Facts{Event: contract.EventBlockIO, BlockDevice: "loop0", BlockBackingDevice: "vda"}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Of(&f) }))
}

func TestDefaultRowsAreValid(t *testing.T) {
	valid := map[string]bool{contract.LayerL0: true, contract.LayerL1: true, contract.LayerL2: true, contract.LayerL3: true,
		contract.LayerL4: true, contract.LayerNetwork: true, contract.LayerApp: true}
	for _, r := range Default {
		assert.True(t, valid[r.Layer], "%s → %q", r.Event, r.Layer)
		assert.NotEmpty(t, r.Why, r.Event)
		for _, c := range r.When {
			assert.NotEmpty(t, c.Key, r.Event)
		}
	}
}

func TestPredicates(t *testing.T) {
	assert.True(t, VirtioDisk("vda"))
	assert.False(t, VirtioDisk("sda"))
	assert.True(t, VirtioDriver("virtio_blk"))
	assert.True(t, DiskWait("body", "fsync"))
	assert.True(t, DiskWait("sandbox", "pwrite64"))
	assert.False(t, DiskWait("entry", "fsync"), "an entry wait is the sandbox's, not the disk's")
	assert.False(t, DiskWait("body", "write"), "a plain write may be a socket's")
	assert.True(t, LimitedIO("write"))
	assert.False(t, LimitedIO("read"))
	assert.True(t, IdleWait("epoll_pwait"))
	assert.True(t, SandboxRuntime("runsc"))
	assert.False(t, SandboxRuntime("exe"))
	assert.True(t, ContainerCgroup("/kubepods.slice/x"))
	assert.False(t, ContainerCgroup("/init.scope"))
	assert.False(t, ContainerCgroup(""))
}

func TestPeerBoundary(t *testing.T) {
	assert.True(t, PeerBoundary(contract.LayerL3), "a peer in a container")
	assert.True(t, PeerBoundary(contract.LayerL4), "a peer in a sandbox")
	assert.False(t, PeerBoundary(contract.LayerL1), "a peer on the node itself, under a hypervisor")
	assert.False(t, PeerBoundary(contract.LayerL0))
}
