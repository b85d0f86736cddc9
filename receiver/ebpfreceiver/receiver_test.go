package ebpfreceiver

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/probes"
)

// startReceiver starts a receiver with cfg feeding sink and shuts it down at
// the end of the test.
func startReceiver(t *testing.T, cfg *Config, sink *consumertest.LogsSink, metricsSink *consumertest.MetricsSink) *ebpfReceiver {
	t.Helper()
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	r.nextLogs = sink
	if metricsSink != nil {
		r.nextMetrics = metricsSink
	}
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return r
}

// findRecords returns every record in sink with the given event name.
func findRecords(sink *consumertest.LogsSink, name string) []plog.LogRecord {
	var out []plog.LogRecord
	for _, l := range sink.AllLogs() {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			sls := l.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					if lrs.At(k).EventName() == name {
						out = append(out, lrs.At(k))
					}
				}
			}
		}
	}
	return out
}

// lossyLink builds client and server namespaces joined by veth, with the
// server dropping 20% of the data segments it receives on port.
func lossyLink(t testing.TB, tag string, port int, addrA, addrB string) *testenv.Link {
	t.Helper()
	a := testenv.NewNetns(t, "chx-n"+tag+"-cli")
	b := testenv.NewNetns(t, "chx-n"+tag+"-srv")
	l := testenv.NewVethPair(t, a, b, "chx"+tag+"a", "chx"+tag+"b", addrA, addrB)
	testenv.DropInput(t, b, port, 20)
	return l
}

func TestRetransmitRecordsCarryTheClientSocket(t *testing.T) {
	testenv.RequireRoot(t, "ip", "nft")
	tests := []struct {
		name         string
		tag          string
		addrA, addrB string
		netType      string
	}{
		{name: "ipv4", tag: "r4", addrA: "198.18.128.1/30", addrB: "198.18.128.2/30", netType: "ipv4"},
		{name: "ipv6", tag: "r6", addrA: "2001:db8:128:1::1/64", addrB: "2001:db8:128:1::2/64", netType: "ipv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const port = 18080
			link := lossyLink(t, tt.tag, port, tt.addrA, tt.addrB)
			sink := new(consumertest.LogsSink)
			metricsSink := new(consumertest.MetricsSink)
			cfg := createDefaultConfig()
			// tcp_connection fills the socket owners the retransmit
			// program reads (the shared sock_owners map).
			cfg.Probes = []string{"tcp_retransmit", "skb_drop", "tcp_connection"}
			cfg.FlushInterval = 20 * time.Millisecond
			cfg.MetricsInterval = 50 * time.Millisecond
			startReceiver(t, cfg, sink, metricsSink)

			before := time.Now()
			local, remote := link.Transfer(t, port, 4<<20)
			after := time.Now()

			var matched []plog.LogRecord
			require.Eventually(t, func() bool {
				matched = matched[:0]
				for _, lr := range findRecords(sink, contract.EventTCPRetransmit) {
					a := lr.Attributes()
					if str(a, contract.AttrNetworkLocalAddress) == local.Addr().String() &&
						integer(a, contract.AttrNetworkLocalPort) == int64(local.Port()) &&
						str(a, contract.AttrNetworkPeerAddress) == remote.Addr().String() &&
						integer(a, contract.AttrNetworkPeerPort) == int64(remote.Port()) {
						matched = append(matched, lr)
					}
				}
				return len(matched) > 0
			}, 5*time.Second, 50*time.Millisecond, "no kernel.tcp.retransmit for %s -> %s", local, remote)

			for _, lr := range matched {
				a := lr.Attributes()
				assert.Equal(t, int64(link.A.Inode), integer(a, contract.AttrNetnsInode), "netns inode of the client socket")
				assert.Equal(t, "tcp", str(a, contract.AttrNetworkTransport))
				assert.Equal(t, tt.netType, str(a, contract.AttrNetworkType))
				assert.Equal(t, contract.EventTCPRetransmit, lr.EventName())
				assert.NotContains(t, a.AsRaw(), contract.AttrEventName, "the deprecated event.name attribute is opt-in")
				// Any state a sending socket can be in (a lost SYN is resent
				// in syn_sent), spelled as the conventions' value.
				assert.Contains(t, []string{"syn_sent", "syn_received", "established", "fin_wait_1", "fin_wait_2", "close_wait", "last_ack", "closing"}, str(a, contract.AttrConnectionState), "a network.connection.state value")
				assert.Equal(t, int64(os.Getpid()), integer(a, contract.AttrProcessPID), "owner captured at connect, retransmit fired in softirq")
				// process.executable.name is the exe link's basename (the
				// test binary), not the comm the kernel saw (thread.name).
				exe, err := os.Executable()
				require.NoError(t, err)
				assert.Equal(t, filepath.Base(exe), str(a, contract.AttrProcessExecutable))
				assert.NotEmpty(t, str(a, contract.AttrThreadName))
				ts := lr.Timestamp().AsTime()
				assert.False(t, ts.Before(before.Add(-50*time.Millisecond)) || ts.After(after.Add(50*time.Millisecond)),
					"record time %v outside the transfer [%v, %v]", ts, before, after)
				// What the loss cost the segment: measured in every loss
				// episode (fast recovery or timeout), inside the transfer,
				// and a timeout waited at least the minimum RTO (200ms).
				kind := str(a, contract.AttrTCPRetransmitKind)
				require.Contains(t, []string{contract.RetransmitFast, contract.RetransmitTimeout, contract.RetransmitOther}, kind)
				wait := time.Duration(integer(a, contract.AttrTCPRetransmitWaitNs))
				if kind == contract.RetransmitOther {
					continue
				}
				assert.Positive(t, wait, "%s retransmit: wait measured", kind)
				assert.Less(t, wait, after.Sub(before), "%s retransmit waited less than the whole transfer", kind)
				if kind == contract.RetransmitTimeout {
					assert.GreaterOrEqual(t, wait, 200*time.Millisecond, "a timeout waits at least TCP_RTO_MIN")
				}
			}
			kinds, longest := map[string]int{}, map[string]time.Duration{}
			for _, lr := range matched {
				a := lr.Attributes()
				kind := str(a, contract.AttrTCPRetransmitKind)
				kinds[kind]++
				longest[kind] = max(longest[kind], time.Duration(integer(a, contract.AttrTCPRetransmitWaitNs)))
			}
			t.Logf("retransmits by kind: %v, longest wait by kind: %v", kinds, longest)

			// The server's nftables rule dropped the segments that were
			// retransmitted: kernel.skb.drop on the server side, the
			// connection seen from the server (local = server).
			var drops []plog.LogRecord
			require.Eventually(t, func() bool {
				drops = drops[:0]
				for _, lr := range findRecords(sink, contract.EventSKBDrop) {
					a := lr.Attributes()
					if str(a, contract.AttrNetworkLocalAddress) == remote.Addr().String() &&
						integer(a, contract.AttrNetworkLocalPort) == int64(remote.Port()) &&
						str(a, contract.AttrNetworkPeerAddress) == local.Addr().String() &&
						integer(a, contract.AttrNetworkPeerPort) == int64(local.Port()) &&
						str(a, contract.AttrSKBDropReason) == "NETFILTER_DROP" {
						drops = append(drops, lr)
					}
				}
				return len(drops) > 0
			}, 5*time.Second, 50*time.Millisecond, "no NETFILTER_DROP kernel.skb.drop for %s <- %s", remote, local)
			for _, lr := range drops {
				a := lr.Attributes()
				assert.Equal(t, contract.LayerL3, str(a, contract.AttrIsolationLayer))
				assert.Equal(t, link.DevB, str(a, contract.AttrNetworkInterface))
				assert.Equal(t, "veth", str(a, contract.AttrNetworkInterfaceDriver))
				assert.Equal(t, int64(link.B.Inode), integer(a, contract.AttrNetnsInode), "netns of the dropping device")
				assert.Equal(t, tt.netType, str(a, contract.AttrNetworkType))
			}
			require.Eventually(t, func() bool {
				return sumPoint(metricsSink, "kernel.skb.drops", map[string]string{"kernel.skb.drop.reason": "NETFILTER_DROP", "network.interface.name": link.DevB}) >= int64(len(drops))
			}, 5*time.Second, 50*time.Millisecond, "kernel.skb.drops for NETFILTER_DROP on %s", link.DevB)

			// The in-kernel counter behind kernel.tcp.retransmits sees every
			// retransmit of this connection, so it is at least the number of
			// records (more if the retransmit timer fired after we looked).
			require.Eventually(t, func() bool {
				return retransmitCount(metricsSink, remote) >= int64(len(matched))
			}, 5*time.Second, 50*time.Millisecond, "kernel.tcp.retransmits for %s (server.port %d)", remote.Addr(), remote.Port())
		})
	}
}

func TestShutdownDetachesEveryProgram(t *testing.T) {
	testenv.RequireRoot(t)
	sink := new(consumertest.LogsSink)
	for range 2 { // Start, Shutdown, Start again
		r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), createDefaultConfig())
		r.nextLogs = sink
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
		// This process's programs only: other tests on the same kernel
		// (parallel packages, other checkouts) load theirs meanwhile.
		require.ElementsMatch(t, probes.Names(), r.probes.Attached(), "every probe attaches on this kernel: %v", r.probes.Failed())
		ours := testenv.OwnPrograms(t)
		require.NotEmpty(t, ours, "programs loaded while running")
		require.NoError(t, r.Shutdown(context.Background()))
		// Programs attached through BTF tracing links (tp_btf) are freed
		// after an RCU grace period, not synchronously with the link's close.
		require.Eventually(t, func() bool { return len(testenv.ProgramsAlive(ours)) == 0 }, 5*time.Second, 20*time.Millisecond,
			"programs left after Shutdown: %v", testenv.ProgramsAlive(ours))
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), createDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()))
}

// retransmitCount returns the newest kernel.tcp.retransmits value for the
// peer address and server port (the client's ephemeral port is no
// attribute), or -1.
func retransmitCount(sink *consumertest.MetricsSink, peer netip.AddrPort) int64 {
	latest := int64(-1)
	for _, md := range sink.AllMetrics() {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					if ms.At(k).Name() != "kernel.tcp.retransmits" {
						continue
					}
					dps := ms.At(k).Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						a := dps.At(d).Attributes()
						if str(a, contract.AttrNetworkPeerAddress) == peer.Addr().String() &&
							integer(a, "server.port") == int64(peer.Port()) {
							_, hasLocal := a.Get(contract.AttrNetworkLocalPort)
							_, hasPeerPort := a.Get(contract.AttrNetworkPeerPort)
							if !hasLocal && !hasPeerPort {
								latest = dps.At(d).IntValue()
							}
						}
					}
				}
			}
		}
	}
	return latest
}

func str(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.AsString()
	}
	return ""
}

func integer(m pcommon.Map, k string) int64 {
	if v, ok := m.Get(k); ok {
		return v.Int()
	}
	return -1
}
