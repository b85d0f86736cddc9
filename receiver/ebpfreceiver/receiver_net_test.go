package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/probes"
)

// Address plans of the network-slice tests (198.18.128.0/20, 2001:db8:128::/48).
var netFamilies = []struct {
	name, netType string
	addrA, addrB  string
}{
	{"ipv4", "ipv4", "198.18.129.1/30", "198.18.129.2/30"},
	{"ipv6", "ipv6", "2001:db8:128:2::1/64", "2001:db8:128:2::2/64"},
}

// plainLink joins two fresh namespaces with veth, no loss.
func plainLink(t testing.TB, tag, addrA, addrB string) *testenv.Link {
	t.Helper()
	a := testenv.NewNetns(t, "chx-n"+tag+"-cli")
	b := testenv.NewNetns(t, "chx-n"+tag+"-srv")
	return testenv.NewVethPair(t, a, b, "chx"+tag+"a", "chx"+tag+"b", addrA, addrB)
}

// waitRecords waits until match accepts at least one record named name.
func waitRecords(t *testing.T, sink *consumertest.LogsSink, name string, match func(pcommon.Map) bool, msg string, args ...any) []plog.LogRecord {
	t.Helper()
	var out []plog.LogRecord
	require.Eventually(t, func() bool {
		out = out[:0]
		for _, lr := range findRecords(sink, name) {
			if match(lr.Attributes()) {
				out = append(out, lr)
			}
		}
		return len(out) > 0
	}, 5*time.Second, 20*time.Millisecond, append([]any{msg}, args...)...)
	return out
}

func endpointIs(a pcommon.Map, side string, ap netip.AddrPort) bool {
	addr, port := contract.AttrNetworkLocalAddress, contract.AttrNetworkLocalPort
	if side == "peer" {
		addr, port = contract.AttrNetworkPeerAddress, contract.AttrNetworkPeerPort
	}
	return str(a, addr) == ap.Addr().String() && integer(a, port) == int64(ap.Port())
}

// A transfer of N bytes is one kernel.tcp.connection per side when the
// connection closes, with the bytes, the owning process (this test) and the
// netns; a filtered-out port produces nothing.
func TestConnectionRecords(t *testing.T) {
	testenv.RequireRoot(t, "ip")
	for i, fam := range netFamilies {
		t.Run(fam.name, func(t *testing.T) {
			const port, otherPort, n = 18081, 18082, 1 << 20
			link := plainLink(t, fmt.Sprintf("c%d", i), fam.addrA, fam.addrB)
			sink := new(consumertest.LogsSink)
			metricsSink := new(consumertest.MetricsSink)
			cfg := createDefaultConfig()
			cfg.Probes = []string{"tcp_connection"}
			cfg.FlushInterval = 20 * time.Millisecond
			cfg.MetricsInterval = 50 * time.Millisecond
			cfg.Filters.Ports = []int{port}
			startReceiver(t, cfg, sink, metricsSink)

			local, remote := link.Transfer(t, port, n)
			otherLocal, _ := link.Transfer(t, otherPort, 1000)

			client := waitRecords(t, sink, contract.EventTCPConnection, func(a pcommon.Map) bool {
				return endpointIs(a, "local", local) && endpointIs(a, "peer", remote)
			}, "no client kernel.tcp.connection for %s -> %s", local, remote)
			server := waitRecords(t, sink, contract.EventTCPConnection, func(a pcommon.Map) bool {
				return endpointIs(a, "local", remote) && endpointIs(a, "peer", local)
			}, "no server kernel.tcp.connection for %s <- %s", remote, local)
			require.Len(t, client, 1, "one record per closed connection")
			require.Len(t, server, 1, "one record per closed connection")

			ca, sa := client[0].Attributes(), server[0].Attributes()
			assert.InEpsilon(t, n, integer(ca, contract.AttrTCPBytesSent), 0.01, "client bytes sent")
			assert.InEpsilon(t, n, integer(sa, contract.AttrTCPBytesReceived), 0.01, "server bytes received")
			assert.Equal(t, int64(os.Getpid()), integer(ca, contract.AttrProcessPID), "client pid captured at connect")
			assert.Equal(t, int64(os.Getpid()), integer(sa, contract.AttrProcessPID), "server pid captured at accept")
			assert.Equal(t, int64(link.A.Inode), integer(ca, contract.AttrNetnsInode))
			assert.Equal(t, int64(link.B.Inode), integer(sa, contract.AttrNetnsInode))
			assert.NotEmpty(t, str(ca, contract.AttrCgroupPath), "cgroup of the test process")
			for _, a := range []pcommon.Map{ca, sa} {
				assert.Equal(t, fam.netType, str(a, contract.AttrNetworkType))
				assert.Equal(t, "tcp", str(a, contract.AttrNetworkTransport))
				assert.Equal(t, false, a.AsRaw()[contract.AttrTCPConnectFailed])
				assert.Positive(t, integer(a, contract.AttrTCPSrttUs))
				assert.GreaterOrEqual(t, integer(a, contract.AttrTCPDurationMs), int64(0))
			}

			for _, lr := range findRecords(sink, contract.EventTCPConnection) {
				assert.False(t, endpointIs(lr.Attributes(), "local", otherLocal), "filtered port %d reported", otherPort)
			}

			// Histograms and transition counts are kept in the kernel.
			require.Eventually(t, func() bool {
				return histogramCount(metricsSink, "kernel.tcp.connection.duration") >= 2 &&
					histogramCount(metricsSink, "kernel.tcp.srtt") >= 2 &&
					sumPoint(metricsSink, "kernel.tcp.connections", map[string]string{"kernel.tcp.state.from": "closed", "kernel.tcp.state.to": "syn_sent"}) >= 2
			}, 5*time.Second, 50*time.Millisecond, "connection metrics")
			// Durations in seconds, the kernel's log2 buckets scaled: the
			// first bound is 1µs (srtt) and 1ms (lifetime), and the sum is
			// in the buckets' unit. The histograms are the node's, not
			// this test's: other tests' connections, some alive for
			// seconds, close in the same collection (a CI run measured a
			// mean lifetime of 1.05s), so only the RTT is held under a
			// second; the sum must lie within what its buckets allow.
			for name, first := range map[string]float64{"kernel.tcp.srtt": 1e-6, "kernel.tcp.connection.duration": 1e-3} {
				eachMetric(metricsSink, name, func(m pmetric.Metric) {
					assert.Equal(t, "s", m.Unit(), name)
					dp := m.Histogram().DataPoints().At(0)
					assert.InDelta(t, first, dp.ExplicitBounds().At(0), first/1e6, name)
					if dp.Count() == 0 {
						return // a collection before the first connection closed
					}
					mean := dp.Sum() / float64(dp.Count())
					assert.GreaterOrEqual(t, mean, 0.0, name)
					if name == "kernel.tcp.srtt" {
						assert.Less(t, mean, 1.0, "%s: mean %v s", name, mean)
					}
					lo, hi := bucketSumRange(dp)
					assert.True(t, dp.Sum() >= lo*(1-1e-9) && dp.Sum() <= hi*(1+1e-9),
						"%s: sum %v s outside what its buckets allow, [%v, %v]", name, dp.Sum(), lo, hi)
				})
			}
		})
	}
}

// A connect to a closed port: the server side sends a RST (no socket), the
// client receives it, and the client's socket closes from SYN_SENT: a
// failed-connect record naming the peer, stamped within 50ms of the connect.
func TestFailedConnectAndReset(t *testing.T) {
	testenv.RequireRoot(t, "ip")
	for i, fam := range netFamilies {
		t.Run(fam.name, func(t *testing.T) {
			const closedPort = 18083
			link := plainLink(t, fmt.Sprintf("f%d", i), fam.addrA, fam.addrB)
			sink := new(consumertest.LogsSink)
			metricsSink := new(consumertest.MetricsSink)
			cfg := createDefaultConfig()
			cfg.Probes = []string{"tcp_connection", "tcp_reset"}
			cfg.FlushInterval = 20 * time.Millisecond
			cfg.MetricsInterval = 50 * time.Millisecond
			startReceiver(t, cfg, sink, metricsSink)

			peer := netip.AddrPortFrom(netip.MustParseAddr(link.AddrB), closedPort)
			// The socket closes when the RST arrives, which is what makes
			// connect() return: the moment the test sees the refusal.
			var refused time.Time
			err := link.A.Do(func() error {
				c, err := net.DialTimeout("tcp", peer.String(), 5*time.Second)
				refused = time.Now()
				if err == nil {
					_ = c.Close()
				}
				return err
			})
			require.True(t, errors.Is(err, syscall.ECONNREFUSED), "connect to a closed port: %v", err)

			failed := waitRecords(t, sink, contract.EventTCPConnection, func(a pcommon.Map) bool {
				return endpointIs(a, "peer", peer) && a.AsRaw()[contract.AttrTCPConnectFailed] == true
			}, "no failed-connect record for %s", peer)
			require.Len(t, failed, 1)
			a := failed[0].Attributes()
			assert.Equal(t, "syn_sent", str(a, contract.AttrConnectionState))
			assert.Equal(t, link.AddrA, str(a, contract.AttrNetworkLocalAddress))
			assert.Equal(t, int64(os.Getpid()), integer(a, contract.AttrProcessPID))
			assert.Equal(t, int64(link.A.Inode), integer(a, contract.AttrNetnsInode))
			ts := failed[0].Timestamp().AsTime()
			assert.WithinDuration(t, refused, ts, 50*time.Millisecond, "kernel time of the failed connect vs the moment connect() returned")
			clientLocal := netip.AddrPortFrom(netip.MustParseAddr(link.AddrA), uint16(integer(a, contract.AttrNetworkLocalPort)))

			sent := waitRecords(t, sink, contract.EventTCPReset, func(a pcommon.Map) bool {
				return str(a, contract.AttrTCPResetDirection) == "sent" && endpointIs(a, "local", peer)
			}, "no sent kernel.tcp.reset from %s", peer)
			sa := sent[0].Attributes()
			assert.True(t, endpointIs(sa, "peer", clientLocal), "RST goes to the client %s: %v", clientLocal, sa.AsRaw())
			assert.Equal(t, int64(link.B.Inode), integer(sa, contract.AttrNetnsInode))
			assert.Equal(t, "NO_SOCKET", str(sa, contract.AttrTCPResetReason))

			received := waitRecords(t, sink, contract.EventTCPReset, func(a pcommon.Map) bool {
				return str(a, contract.AttrTCPResetDirection) == "received" && endpointIs(a, "local", clientLocal)
			}, "no received kernel.tcp.reset on %s", clientLocal)
			ra := received[0].Attributes()
			assert.True(t, endpointIs(ra, "peer", peer))
			assert.Equal(t, "syn_sent", str(ra, contract.AttrConnectionState))
			assert.Equal(t, int64(os.Getpid()), integer(ra, contract.AttrProcessPID), "owner from connect")
			assert.Equal(t, int64(link.A.Inode), integer(ra, contract.AttrNetnsInode))
			assert.Equal(t, fam.netType, str(ra, contract.AttrNetworkType))

			require.Eventually(t, func() bool {
				return sumPoint(metricsSink, "kernel.tcp.resets", map[string]string{"kernel.tcp.reset.direction": "sent"}) >= 1 &&
					sumPoint(metricsSink, "kernel.tcp.resets", map[string]string{"kernel.tcp.reset.direction": "received"}) >= 1 &&
					sumPoint(metricsSink, "kernel.tcp.connections", map[string]string{"kernel.tcp.state.from": "syn_sent", "kernel.tcp.state.to": "closed"}) >= 1
			}, 5*time.Second, 50*time.Millisecond, "reset and transition counters")
		})
	}
}

// The conntrack probe reads the real /proc/net/stat/nf_conntrack; when the
// module is not loaded, an nft ct rule in a test namespace loads it.
func TestConntrackCountersFromProc(t *testing.T) {
	testenv.RequireRoot(t, "ip", "nft")
	if _, err := os.Stat(probes.DefaultConntrackStatPath); err != nil {
		ns := testenv.NewNetns(t, "chx-nct")
		ns.Exec(t, "nft", "add table inet chx_ct")
		ns.Exec(t, "nft", "add chain inet chx_ct in { type filter hook input priority 0; }")
		ns.Exec(t, "nft", "add rule inet chx_ct in ct state established accept")
	}
	readStats := func() probes.ConntrackStats {
		data, err := os.ReadFile(probes.DefaultConntrackStatPath)
		require.NoError(t, err)
		st, err := probes.ParseConntrackStats(data)
		require.NoError(t, err)
		return st
	}
	before := readStats()
	metricsSink := new(consumertest.MetricsSink)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"conntrack"}
	cfg.MetricsInterval = 50 * time.Millisecond
	startReceiver(t, cfg, new(consumertest.LogsSink), metricsSink)
	require.Eventually(t, func() bool {
		return sumPoint(metricsSink, "kernel.conntrack.insert_failed", nil) >= 0 &&
			sumPoint(metricsSink, "kernel.conntrack.drops", nil) >= 0
	}, 5*time.Second, 20*time.Millisecond, "conntrack metrics")
	after := readStats()
	insertFailed := sumPoint(metricsSink, "kernel.conntrack.insert_failed", nil)
	drops := sumPoint(metricsSink, "kernel.conntrack.drops", nil)
	assert.True(t, int64(before.InsertFailed) <= insertFailed && insertFailed <= int64(after.InsertFailed), "insert_failed %d outside [%d, %d]", insertFailed, before.InsertFailed, after.InsertFailed)
	assert.True(t, int64(before.Drop+before.EarlyDrop) <= drops && drops <= int64(after.Drop+after.EarlyDrop), "drops %d outside [%d, %d]", drops, before.Drop+before.EarlyDrop, after.Drop+after.EarlyDrop)
}

// A probe that cannot attach is skipped with the others running; here the
// configured conntrack file (conntrack.stat_path) is absent.
func TestMissingSourceDisablesOnlyThatProbe(t *testing.T) {
	testenv.RequireRoot(t)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"conntrack", "tcp_reset"}
	cfg.Conntrack.StatPath = t.TempDir() + "/absent"
	r := startReceiverWith(t, cfg, func(*ebpfReceiver) {})
	assert.Equal(t, []string{"tcp_reset"}, r.probes.Attached())
	assert.Contains(t, r.probes.Failed(), "conntrack")
}

func startReceiverWith(t *testing.T, cfg *Config, adjust func(*ebpfReceiver)) *ebpfReceiver {
	t.Helper()
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	r.nextLogs = new(consumertest.LogsSink)
	adjust(r)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return r
}

// sumPoint returns the newest value of the sum metric's data point whose
// attributes include want, or -1.
func sumPoint(sink *consumertest.MetricsSink, name string, want map[string]string) int64 {
	latest := int64(-1)
	eachMetric(sink, name, func(m pmetric.Metric) {
		if m.Type() != pmetric.MetricTypeSum {
			return
		}
		dps := m.Sum().DataPoints()
	points:
		for d := 0; d < dps.Len(); d++ {
			for k, v := range want {
				if str(dps.At(d).Attributes(), k) != v {
					continue points
				}
			}
			latest = dps.At(d).IntValue()
		}
	})
	return latest
}

// histogramCount returns the newest count of the histogram metric, or -1.
func histogramCount(sink *consumertest.MetricsSink, name string) int64 {
	latest := int64(-1)
	eachMetric(sink, name, func(m pmetric.Metric) {
		if m.Type() != pmetric.MetricTypeHistogram || m.Histogram().DataPoints().Len() == 0 {
			return
		}
		dp := m.Histogram().DataPoints().At(0)
		var sum uint64
		for _, c := range dp.BucketCounts().AsRaw() {
			sum += c
		}
		if sum != dp.Count() || dp.BucketCounts().Len() != dp.ExplicitBounds().Len()+1 {
			latest = -2 // malformed
			return
		}
		latest = int64(dp.Count())
	})
	return latest
}

func eachMetric(sink *consumertest.MetricsSink, name string, fn func(pmetric.Metric)) {
	for _, md := range sink.AllMetrics() {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					if ms.At(k).Name() == name {
						fn(ms.At(k))
					}
				}
			}
		}
	}
}

// A dual-stack listener ([::]) accepting an IPv4 client holds an AF_INET6
// socket with IPv4-mapped addresses; its records report plain IPv4 so they
// match the client's and the spans'.
func TestDualStackServerReportsIPv4(t *testing.T) {
	testenv.RequireRoot(t, "ip")
	const port, n = 18084, 100000
	link := plainLink(t, "m4", "198.18.132.1/30", "198.18.132.2/30")
	sink := new(consumertest.LogsSink)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"tcp_connection"}
	cfg.FlushInterval = 20 * time.Millisecond
	startReceiver(t, cfg, sink, nil)

	var ln net.Listener
	require.NoError(t, link.B.Do(func() (err error) { ln, err = net.Listen("tcp", fmt.Sprintf("[::]:%d", port)); return err }))
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		m, _ := io.Copy(io.Discard, c)
		got <- m
	}()
	var conn net.Conn
	require.NoError(t, link.A.Do(func() (err error) {
		conn, err = net.Dial("tcp4", net.JoinHostPort(link.AddrB, fmt.Sprint(port)))
		return err
	}))
	_, err := conn.Write(make([]byte, n))
	require.NoError(t, err)
	client := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	require.NoError(t, conn.Close())
	require.Equal(t, int64(n), <-got)

	server := netip.AddrPortFrom(netip.MustParseAddr(link.AddrB), port)
	recs := waitRecords(t, sink, contract.EventTCPConnection, func(a pcommon.Map) bool {
		return endpointIs(a, "local", server) && endpointIs(a, "peer", client)
	}, "no server record %s <- %s in IPv4 form", server, client)
	a := recs[0].Attributes()
	assert.Equal(t, "ipv4", str(a, contract.AttrNetworkType))
	assert.InEpsilon(t, n, integer(a, contract.AttrTCPBytesReceived), 0.01)
}

// Every drop is counted in the kernel; events are rate-limited per CPU.
// UDP datagrams dropped by an nftables rule on the receiving side.
func TestSKBDropCountedAlwaysEventsRateLimited(t *testing.T) {
	testenv.RequireRoot(t, "ip", "nft")
	const port, sent, perSec = 18085, 300, 5
	link := plainLink(t, "d4", "198.18.133.1/30", "198.18.133.2/30")
	link.B.Exec(t, "nft", "add table inet chx_drop")
	link.B.Exec(t, "nft", "add chain inet chx_drop in { type filter hook input priority 0; }")
	link.B.Exec(t, "nft", fmt.Sprintf("add rule inet chx_drop in udp dport %d drop", port))

	sink := new(consumertest.LogsSink)
	metricsSink := new(consumertest.MetricsSink)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"skb_drop"}
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.MetricsInterval = 50 * time.Millisecond
	cfg.SKBDropEventsPerSecond = perSec
	startReceiver(t, cfg, sink, metricsSink)

	start := time.Now()
	var local netip.AddrPort
	require.NoError(t, link.A.Do(func() error {
		c, err := net.Dial("udp", net.JoinHostPort(link.AddrB, fmt.Sprint(port)))
		if err != nil {
			return err
		}
		defer c.Close()
		local = c.LocalAddr().(*net.UDPAddr).AddrPort()
		for range sent {
			if _, err := c.Write([]byte("x")); err != nil {
				return err
			}
		}
		return nil
	}))
	elapsed := time.Since(start)

	require.Eventually(t, func() bool {
		return sumPoint(metricsSink, "kernel.skb.drops", map[string]string{"kernel.skb.drop.reason": "NETFILTER_DROP", "network.interface.name": link.DevB}) >= sent
	}, 5*time.Second, 20*time.Millisecond, "every dropped datagram counted")

	events := waitRecords(t, sink, contract.EventSKBDrop, func(a pcommon.Map) bool {
		return endpointIs(a, "peer", local) && str(a, contract.AttrNetworkTransport) == "udp"
	}, "no kernel.skb.drop for the UDP datagrams from %s", local)
	a := events[0].Attributes()
	assert.Equal(t, "NETFILTER_DROP", str(a, contract.AttrSKBDropReason))
	assert.Equal(t, int64(port), integer(a, contract.AttrNetworkLocalPort))
	assert.Equal(t, contract.LayerL3, str(a, contract.AttrIsolationLayer))
	// At most perSec per CPU per started second (windows are per CPU).
	limit := perSec * runtime.NumCPU() * (int(elapsed/time.Second) + 2)
	assert.LessOrEqual(t, len(events), limit, "rate limit: %d events for %d drops", len(events), sent)
}

// dropCount sums the newest kernel.skb.drops value of every interface for
// one drop reason, or -1 when the reason has no point yet.
func dropCount(sink *consumertest.MetricsSink, reason string) int64 {
	latest := map[string]int64{}
	eachMetric(sink, "kernel.skb.drops", func(m pmetric.Metric) {
		if m.Type() != pmetric.MetricTypeSum {
			return
		}
		dps := m.Sum().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			a := dps.At(d).Attributes()
			if str(a, contract.AttrSKBDropReason) == reason {
				latest[str(a, contract.AttrNetworkInterface)] = dps.At(d).IntValue()
			}
		}
	})
	if len(latest) == 0 {
		return -1
	}
	var n int64
	for _, v := range latest {
		n += v
	}
	return n
}

// Plain loopback connections that open, exchange data and close make
// QUEUE_PURGE drops (the closing sockets free their queues): counted in
// kernel.skb.drops, but no kernel.skb.drop record — normal socket life is
// not loss. A SYN to a closed port (NO_SOCKET, not ignored) still makes a
// record, so the filter is not dropping everything.
func TestSKBDropIgnoredReasonsCountedNotRecorded(t *testing.T) {
	testenv.RequireRoot(t, "ip")
	const conns, closedPort = 10, 18099
	ns := testenv.NewNetns(t, "chx-rdrop")

	sink := new(consumertest.LogsSink)
	metricsSink := new(consumertest.MetricsSink)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"skb_drop"}
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.MetricsInterval = 50 * time.Millisecond
	require.Contains(t, cfg.SKBDropIgnoreReasons, "QUEUE_PURGE")
	require.NotContains(t, cfg.SKBDropIgnoreReasons, "NO_SOCKET")
	startReceiver(t, cfg, sink, metricsSink)

	require.NoError(t, ns.Do(func() error {
		for range conns {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				ln.Close()
				return err
			}
			s, err := ln.Accept()
			if err != nil {
				ln.Close()
				c.Close()
				return err
			}
			buf := make([]byte, 1000)
			if _, err := c.Write(buf); err != nil {
				return err
			}
			if _, err := io.ReadFull(s, buf); err != nil {
				return err
			}
			if _, err := s.Write(buf[:100]); err != nil {
				return err
			}
			if _, err := io.ReadFull(c, buf[:100]); err != nil {
				return err
			}
			c.Close()
			s.Close()
			ln.Close()
		}
		_, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", closedPort), time.Second)
		if err == nil {
			return fmt.Errorf("connect to closed port %d succeeded", closedPort)
		}
		return nil
	}))

	closed := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", closedPort))
	waitRecords(t, sink, contract.EventSKBDrop, func(a pcommon.Map) bool {
		return str(a, contract.AttrSKBDropReason) == "NO_SOCKET" && (endpointIs(a, "local", closed) || endpointIs(a, "peer", closed))
	}, "no NO_SOCKET kernel.skb.drop for the SYN to %s (not an ignored reason)", closed)
	require.Eventually(t, func() bool {
		return dropCount(metricsSink, "QUEUE_PURGE") >= conns
	}, 5*time.Second, 20*time.Millisecond, "kernel.skb.drops counts the QUEUE_PURGE drops of %d closed connections", conns)

	for _, lr := range findRecords(sink, contract.EventSKBDrop) {
		reason := str(lr.Attributes(), contract.AttrSKBDropReason)
		assert.NotContains(t, cfg.SKBDropIgnoreReasons, reason, "kernel.skb.drop record with ignored reason: %v", lr.Attributes().AsRaw())
	}
}

// bucketSumRange is the least and the most the values counted in dp's
// buckets can sum to: bucket i holds (bound i-1, bound i], the last one
// has no upper bound.
func bucketSumRange(dp pmetric.HistogramDataPoint) (lo, hi float64) {
	bounds, counts := dp.ExplicitBounds(), dp.BucketCounts()
	for i := 0; i < counts.Len(); i++ {
		n := float64(counts.At(i))
		if i > 0 {
			lo += n * bounds.At(i-1)
		}
		if i < bounds.Len() {
			hi += n * bounds.At(i)
		} else if n > 0 {
			hi = math.Inf(1)
		}
	}
	return lo, hi
}
