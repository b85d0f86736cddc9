package isolationjoinprocessor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/placement"
)

const (
	cliIP   = "198.18.64.1"
	srvIP   = "198.18.64.2"
	cliIP6  = "2001:db8:64::1"
	srvIP6  = "2001:db8:64::2"
	cliPort = 40000
	srvPort = 8080
	pid     = 4242
)

func retransmit(at time.Duration, local string, lport int, peer string, pport int, extra kv) kernelEvent {
	attrs := kv{
		contract.AttrNetworkTransport: "tcp", contract.AttrNetworkLocalAddress: local, contract.AttrNetworkLocalPort: lport,
		contract.AttrNetworkPeerAddress: peer, contract.AttrNetworkPeerPort: pport, contract.AttrIsolationLayer: contract.LayerNetwork,
	}
	for k, v := range extra {
		attrs[k] = v
	}
	return kernelEvent{name: contract.EventTCPRetransmit, at: at, attrs: attrs}
}

// clientSpan uses the current semantic conventions.
func clientSpan(local string, lport int, peer string, pport int) testSpan {
	return testSpan{kind: ptrace.SpanKindClient, attrs: kv{
		"network.local.address": local, "network.local.port": lport,
		"network.peer.address": peer, "network.peer.port": pport,
	}}
}

func TestJoin(t *testing.T) {
	ms := time.Millisecond
	throttle := func(at time.Duration, p int, throttledMs int64, periods int) kernelEvent {
		return kernelEvent{name: contract.EventCgroupThrottle, at: at, attrs: kv{
			contract.AttrProcessPID: p, contract.AttrCgroupThrottledNs: throttledMs * int64(ms),
			contract.AttrCgroupThrottledPeriods: periods, contract.AttrIsolationLayer: contract.LayerL3,
		}}
	}
	withPID := func(s testSpan) testSpan { s.resource = kv{"process.pid": pid}; return s }
	// The window of every span is [t0−100ms, t0+200ms] (100ms span, 100ms slack).
	tests := []struct {
		name    string
		events  []kernelEvent
		span    testSpan
		want    map[string]any // attribute → value; nil value = absent
		nEvents int            // span events written
	}{
		{
			name:   "5tuple new semconv client span",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, srvPort, nil)},
			span:   clientSpan(cliIP, cliPort, srvIP, srvPort),
			want: map[string]any{attrJoin: "5tuple", contract.AttrIsolationLayer: "network", attrRetransmits: int64(1),
				attrCause: "network: 1 tcp retransmit to 198.18.64.2:8080 (100ms)"},
			nEvents: 1,
		},
		{
			name:   "5tuple old semconv (net.sock.*)",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, srvPort, nil)},
			span: testSpan{kind: ptrace.SpanKindClient, attrs: kv{
				"net.sock.host.addr": cliIP, "net.sock.host.port": cliPort, "net.sock.peer.addr": srvIP, "net.sock.peer.port": srvPort,
			}},
			want:    map[string]any{attrJoin: "5tuple", attrRetransmits: int64(1)},
			nEvents: 1,
		},
		{
			name:   "5tuple oldest semconv (net.peer.ip, ports as strings)",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, srvPort, nil)},
			span: testSpan{kind: ptrace.SpanKindClient, attrs: kv{
				"net.host.ip": cliIP, "net.host.port": "40000", "net.peer.ip": srvIP, "net.peer.port": "8080",
			}},
			want: map[string]any{attrJoin: "5tuple", attrRetransmits: int64(1)},
		},
		{
			name: "server span matches the client's retransmits in the other direction",
			// Seen by the client socket: local = client, peer = server.
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, srvPort, nil)},
			span: testSpan{kind: ptrace.SpanKindServer, attrs: kv{
				"client.address": cliIP, "client.port": cliPort, "network.local.address": srvIP, "server.port": srvPort,
			}},
			want: map[string]any{attrJoin: "5tuple", contract.AttrIsolationLayer: "network", attrRetransmits: int64(1)},
		},
		{
			name:   "client span with server.address as an IP",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, srvPort, nil)},
			span: testSpan{kind: ptrace.SpanKindClient, attrs: kv{
				"server.address": srvIP, "server.port": srvPort, "network.local.address": cliIP, "network.local.port": cliPort,
			}},
			want: map[string]any{attrJoin: "5tuple"},
		},
		{
			name:   "IPv6",
			events: []kernelEvent{retransmit(50*ms, cliIP6, cliPort, srvIP6, srvPort, nil)},
			span:   clientSpan("2001:0db8:0064::1", cliPort, "[2001:db8:64::2]", srvPort),
			want:   map[string]any{attrJoin: "5tuple", attrRetransmits: int64(1)},
		},
		{
			name:   "IPv4-mapped span addresses match IPv4 events",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, srvPort, nil)},
			span:   clientSpan("::ffff:"+cliIP, cliPort, "::ffff:"+srvIP, srvPort),
			want:   map[string]any{attrJoin: "5tuple"},
		},
		{
			name:   "different local port is another connection",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort+1, srvIP, srvPort, nil)},
			span:   clientSpan(cliIP, cliPort, srvIP, srvPort),
			want:   map[string]any{attrJoin: "unmatched", contract.AttrIsolationLayer: nil, attrRetransmits: nil},
		},
		{
			name:   "same peer, same process, local side unknown: its one connection is known exactly",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, srvPort, kv{contract.AttrProcessPID: pid})},
			span:   withPID(testSpan{kind: ptrace.SpanKindClient, attrs: kv{"network.peer.address": srvIP, "network.peer.port": srvPort}}),
			// The retransmit's owner put the socket in the connection
			// table: the process's only connection to that peer.
			want: map[string]any{attrJoin: "5tuple", attrRetransmits: int64(1)},
		},
		{
			name:   "peer of another process is not this span's",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, srvPort, kv{contract.AttrProcessPID: pid + 1})},
			span:   withPID(testSpan{kind: ptrace.SpanKindClient, attrs: kv{"network.peer.address": srvIP, "network.peer.port": srvPort}}),
			// The node is watched and the process had nothing: app.
			want: map[string]any{attrJoin: "process", contract.AttrIsolationLayer: "app", attrRetransmits: nil},
		},
		{
			name:   "hostname server.address matches through peer port and process",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, 5432, kv{contract.AttrProcessPID: pid})},
			span:   withPID(testSpan{kind: ptrace.SpanKindClient, attrs: kv{"server.address": "db.example", "server.port": 5432}}),
			// The process's only connection to port 5432.
			want: map[string]any{attrJoin: "5tuple", attrRetransmits: int64(1)},
		},
		{
			name:   "hostname server.address without a process does not match",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, 5432, kv{contract.AttrProcessPID: pid})},
			span:   testSpan{kind: ptrace.SpanKindClient, attrs: kv{"server.address": "db.example", "server.port": 5432}},
			want:   map[string]any{attrJoin: "unmatched"},
		},
		{
			name:   "hostname server.address: another port of the same process does not match",
			events: []kernelEvent{retransmit(50*ms, cliIP, cliPort, srvIP, 5433, kv{contract.AttrProcessPID: pid})},
			span:   withPID(testSpan{kind: ptrace.SpanKindClient, attrs: kv{"server.address": "db.example", "server.port": 5432}}),
			want:   map[string]any{attrJoin: "process", contract.AttrIsolationLayer: "app"},
		},
		{
			name:   "process: cgroup throttling of the span's pid",
			events: []kernelEvent{throttle(80*ms, pid, 40, 3)},
			span:   withPID(testSpan{kind: ptrace.SpanKindInternal}),
			want: map[string]any{attrJoin: "process", contract.AttrIsolationLayer: "L3", attrThrottledMs: 40.0,
				attrCause: "L3: cgroup cpu throttled 40ms (3 periods) (40ms)"},
			nEvents: 1,
		},
		{
			name: "process by container.id",
			events: []kernelEvent{{name: contract.EventSchedDelay, at: 90 * ms, attrs: kv{
				contract.AttrContainerID: "abc123", contract.AttrSchedDelayNs: int64(30 * ms),
				// What the receiver writes for a container with a CPU limit.
				contract.AttrIsolationLayer: contract.LayerL3,
			}}},
			span: testSpan{kind: ptrace.SpanKindServer, resource: kv{"container.id": "abc123"}},
			want: map[string]any{attrJoin: "process", contract.AttrIsolationLayer: "L3", attrSchedDelayMs: 30.0},
		},
		{
			name: "process by pod uid from the event's cgroup path",
			events: []kernelEvent{{name: contract.EventSyscallSlow, at: 90 * ms, attrs: kv{
				contract.AttrCgroupPath:   "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-" + hex64 + ".scope",
				contract.AttrSyscallName:  "read",
				contract.AttrSyscallPhase: "entry", contract.AttrSyscallLatencyNs: int64(20 * ms),
			}}},
			span: testSpan{kind: ptrace.SpanKindServer, resource: kv{"k8s.pod.uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}},
			want: map[string]any{attrJoin: "process", contract.AttrIsolationLayer: "L4", attrSyscallSlowMs: 20.0,
				attrCause: "L4: syscall entry wait 20ms (read) (20ms)"},
		},
		{
			name:   "node: steal time only",
			events: []kernelEvent{{name: contract.EventCPUSteal, at: 100 * ms, attrs: kv{contract.AttrCPUStealNs: int64(60 * ms)}}},
			span:   withPID(testSpan{kind: ptrace.SpanKindInternal}),
			want:   map[string]any{attrJoin: "node", contract.AttrIsolationLayer: "L1", attrCause: "L1: cpu steal 60ms (60ms)"},
		},
		{
			name:   "node evidence of another node does not count",
			events: []kernelEvent{{name: contract.EventCPUSteal, at: 100 * ms, host: "other-node", attrs: kv{contract.AttrCPUStealNs: int64(60 * ms)}}},
			span:   withPID(testSpan{kind: ptrace.SpanKindInternal}),
			want:   map[string]any{attrJoin: "unmatched"},
		},
		{
			name:   "window: event at end+slack is inside",
			events: []kernelEvent{retransmit(200*ms, cliIP, cliPort, srvIP, srvPort, nil)},
			span:   clientSpan(cliIP, cliPort, srvIP, srvPort),
			want:   map[string]any{attrJoin: "5tuple"},
		},
		{
			name:   "window: event 1ns after end+slack is outside",
			events: []kernelEvent{retransmit(200*ms+1, cliIP, cliPort, srvIP, srvPort, nil)},
			span:   clientSpan(cliIP, cliPort, srvIP, srvPort),
			want:   map[string]any{attrJoin: "unmatched"},
		},
		{
			name:   "window: event at start-slack is inside",
			events: []kernelEvent{retransmit(-100*ms, cliIP, cliPort, srvIP, srvPort, nil)},
			span:   clientSpan(cliIP, cliPort, srvIP, srvPort),
			want:   map[string]any{attrJoin: "5tuple"},
		},
		{
			name:   "window: event 1ns before start-slack is outside",
			events: []kernelEvent{retransmit(-100*ms-1, cliIP, cliPort, srvIP, srvPort, nil)},
			span:   clientSpan(cliIP, cliPort, srvIP, srvPort),
			want:   map[string]any{attrJoin: "unmatched"},
		},
		{
			name: "several layers: the most time wins, the others follow in the cause",
			events: []kernelEvent{
				throttle(60*ms, pid, 30, 1),
				{name: contract.EventSyscallSlow, at: 100 * ms, attrs: kv{contract.AttrProcessPID: pid, contract.AttrSyscallPhase: "entry", contract.AttrSyscallLatencyNs: int64(70 * ms)}},
				{name: contract.EventCPUSteal, at: 100 * ms, attrs: kv{contract.AttrCPUStealNs: int64(5 * ms)}},
			},
			span: withPID(testSpan{kind: ptrace.SpanKindInternal}),
			want: map[string]any{attrJoin: "process", contract.AttrIsolationLayer: "L4",
				attrCause: "L4: syscall entry wait 70ms (70ms); L3: cgroup cpu throttled 30ms (1 period) (30ms); L1: cpu steal 5ms (5ms)"},
			nEvents: 3,
		},
		{
			name: "retransmits after a local netfilter drop are the container's",
			events: []kernelEvent{
				retransmit(50*ms, cliIP, cliPort, srvIP, srvPort, nil),
				{name: contract.EventSKBDrop, at: 5 * ms, attrs: kv{ // recovered 45ms later: 45% of the span
					contract.AttrNetworkLocalAddress: srvIP, contract.AttrNetworkLocalPort: srvPort,
					contract.AttrNetworkPeerAddress: cliIP, contract.AttrNetworkPeerPort: cliPort,
					contract.AttrSKBDropReason: "NETFILTER_DROP",
				}},
			},
			span: clientSpan(cliIP, cliPort, srvIP, srvPort),
			want: map[string]any{attrJoin: "5tuple", contract.AttrIsolationLayer: "L3", attrSKBDrops: int64(1), attrRetransmits: int64(1)},
		},
		{
			name:   "no evidence, process known: app",
			events: []kernelEvent{throttle(5*time.Second, pid, 30, 1)}, // the node is watched, nothing in the window
			span:   withPID(testSpan{kind: ptrace.SpanKindInternal}),
			want: map[string]any{attrJoin: "process", contract.AttrIsolationLayer: "app",
				attrCause: "no kernel evidence in the span's window"},
		},
		{
			name:   "no process known: unmatched",
			events: []kernelEvent{throttle(50*ms, pid, 30, 1)},
			span:   testSpan{kind: ptrace.SpanKindInternal},
			want:   map[string]any{attrJoin: "unmatched", contract.AttrIsolationLayer: nil, attrCause: nil},
		},
		{
			name:   "process known but its node sends no kernel events: unmatched",
			events: nil,
			span:   withPID(testSpan{kind: ptrace.SpanKindInternal}),
			want:   map[string]any{attrJoin: "unmatched", contract.AttrIsolationLayer: nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, clock := newTestProcessor(t, createDefaultConfig())
			clock.Advance(10 * time.Second) // the events have happened (none is stamped past max_clock_skew)
			_, err := p.processLogs(context.Background(), eventLogs(tt.events...))
			require.NoError(t, err)
			td, err := p.processTraces(context.Background(), spanTraces(tt.span))
			require.NoError(t, err)
			spans := allSpans(td)
			require.Len(t, spans, 1)
			for k, v := range tt.want {
				assert.Equal(t, v, attr(spans[0], k), "attribute %s", k)
			}
			if tt.nEvents > 0 {
				require.Equal(t, tt.nEvents, spans[0].Events().Len())
				for i := 0; i < spans[0].Events().Len(); i++ {
					se := spans[0].Events().At(i)
					assert.Contains(t, se.Name(), "kernel.")
					assert.False(t, se.Timestamp().AsTime().Before(t0.Add(-100*time.Millisecond)), "span event stamped with kernel time")
				}
			}
		})
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestJoinMaxSpanEvents(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.MaxSpanEvents = 2
	p, _, _ := newTestProcessor(t, cfg)
	var evs []kernelEvent
	for i := range 5 {
		evs = append(evs, retransmit(time.Duration(i)*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil))
	}
	_, err := p.processLogs(context.Background(), eventLogs(evs...))
	require.NoError(t, err)
	td, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.NoError(t, err)
	s := allSpans(td)[0]
	assert.Equal(t, int64(5), attr(s, attrRetransmits))
	require.Equal(t, 2, s.Events().Len())
	assert.Equal(t, t0, s.Events().At(0).Timestamp().AsTime(), "oldest kernel event first, kernel time")
}

// TestJoinLocalProcess uses this test's own process: its network namespace
// separates a 5-tuple that repeats in another namespace, and its placement
// is detected from the real /proc and /sys.
func TestJoinLocalProcess(t *testing.T) {
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	var ownNetns int64
	{
		proc, ok := p.resolver.Process(int64(os.Getpid()))
		require.True(t, ok)
		ownNetns = proc.Netns
		require.NotZero(t, ownNetns)
	}
	_, err := p.processLogs(context.Background(), eventLogs(
		retransmit(10*time.Millisecond, cliIP, cliPort, srvIP, srvPort, kv{contract.AttrNetnsInode: ownNetns + 1}),
	))
	require.NoError(t, err)
	span := clientSpan(cliIP, cliPort, srvIP, srvPort)
	span.resource = kv{"process.pid": os.Getpid(), "host.name": hostname(t)}
	td, err := p.processTraces(context.Background(), spanTraces(span))
	require.NoError(t, err)
	s := allSpans(td)[0]
	assert.Equal(t, "process", attr(s, attrJoin), "the same 5-tuple in another namespace is another socket")
	assert.Equal(t, "app", attr(s, contract.AttrIsolationLayer))
	// This machine is a Firecracker guest with virtio devices and the test
	// runs outside any container.
	assert.Equal(t, "L2", attr(s, attrRuntime))
	assert.Equal(t, "L2 virtio/L1 firecracker", attr(s, attrRuntimeStack))

	_, err = p.processLogs(context.Background(), eventLogs(
		retransmit(20*time.Millisecond, cliIP, cliPort, srvIP, srvPort, kv{contract.AttrNetnsInode: ownNetns}),
	))
	require.NoError(t, err)
	td, err = p.processTraces(context.Background(), spanTraces(span))
	require.NoError(t, err)
	s = allSpans(td)[0]
	assert.Equal(t, "5tuple", attr(s, attrJoin))
	assert.Equal(t, int64(1), attr(s, attrRetransmits))
}

func TestEventsFromTheFarFutureAreNotIndexed(t *testing.T) {
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	_, err := p.processLogs(context.Background(), eventLogs(
		retransmit(50*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
		kernelEvent{name: contract.EventCPUSteal, at: 24 * time.Hour, attrs: kv{contract.AttrCPUStealNs: 1}},
	))
	require.NoError(t, err)
	require.Equal(t, 1, p.idx.Len(), "a broken clock must not expire the index")
	hold(p)
	_, err = p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
	require.Error(t, err, "nor move the watermark past the span: it is held")
}

// fakeProc writes a /proc/<pid> for placement detection under root.
func fakeProc(t *testing.T, root string, pid int, cgroup string) {
	t.Helper()
	dir := filepath.Join(root, "proc", fmt.Sprint(pid))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, content := range map[string]string{
		"cgroup": "0::" + cgroup + "\n",
		"status": "Name:\tpeer\nSeccomp:\t0\n",
		"comm":   "peer\n",
		"stat":   fmt.Sprintf("%d (peer) S 1 0 0", pid),
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
}

func TestPeerOnThisNode(t *testing.T) {
	root := t.TempDir()
	const containerPeer, barePeer = 777, 778
	fakeProc(t, root, containerPeer, "/system.slice/docker-"+hex64+".scope")
	fakeProc(t, root, barePeer, "/user.slice")
	node := placement.Stack{{Layer: "L2", Name: "virtio"}, {Layer: "L1", Name: "firecracker"}}
	tests := []struct {
		name      string
		peerPID   int
		wantLayer string
		wantCause string
	}{
		{"peer in a container: its layer", containerPeer, "L3",
			"L3 (peer 198.18.64.2:8080 on this node, L3 docker/L2 virtio/L1 firecracker): network: 1 tcp retransmit to 198.18.64.2:8080 (100ms)"},
		{"peer directly on the node: still the network", barePeer, "network",
			"network: 1 tcp retransmit to 198.18.64.2:8080 (100ms); peer 198.18.64.2:8080 is on this node (L2 virtio/L1 firecracker)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, clock := newTestProcessor(t, createDefaultConfig())
			p.resolver = placement.NewResolver(placement.FS{Root: root}, node, time.Minute, 16, clock.Now)
			_, err := p.processLogs(context.Background(), eventLogs(
				retransmit(50*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
				// The server's end of the connection closed, seen on this node.
				kernelEvent{name: contract.EventTCPConnection, at: 150 * time.Millisecond, attrs: kv{
					contract.AttrNetworkLocalAddress: srvIP, contract.AttrNetworkLocalPort: srvPort,
					contract.AttrNetworkPeerAddress: cliIP, contract.AttrNetworkPeerPort: cliPort,
					contract.AttrProcessPID: tt.peerPID, contract.AttrTCPRetransmits: 0,
				}},
			))
			require.NoError(t, err)
			td, err := p.processTraces(context.Background(), spanTraces(clientSpan(cliIP, cliPort, srvIP, srvPort)))
			require.NoError(t, err)
			s := allSpans(td)[0]
			assert.Equal(t, "5tuple", attr(s, attrJoin))
			assert.Equal(t, tt.wantLayer, attr(s, contract.AttrIsolationLayer))
			assert.Equal(t, tt.wantCause, attr(s, attrCause))
		})
	}
}
