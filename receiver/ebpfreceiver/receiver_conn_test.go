package ebpfreceiver

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// dialFrom connects from namespace ns to addr.
func dialFrom(t *testing.T, ns *testenv.Netns, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	require.NoError(t, ns.Do(func() (err error) { c, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func addrPorts(c net.Conn) (local, remote netip.AddrPort) {
	l, r := c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(l.Addr().Unmap(), l.Port()), netip.AddrPortFrom(r.Addr().Unmap(), r.Port())
}

// oneRecord waits for the single record named name whose local and peer
// endpoints are the given ones.
func oneRecord(t *testing.T, sink *consumertest.LogsSink, name string, local, peer netip.AddrPort) plog.LogRecord {
	t.Helper()
	recs := waitRecords(t, sink, name, func(a pcommon.Map) bool {
		return endpointIs(a, "local", local) && endpointIs(a, "peer", peer)
	}, "no %s for %s -> %s", name, local, peer)
	require.Len(t, recs, 1, "one %s per socket for %s -> %s", name, local, peer)
	return recs[0]
}

// A connection between this process (client) and an echo server in a
// process of its own: each end gets one kernel.tcp.established naming its
// own process, 5-tuple as that end sees it, and netns, stamped when the
// connection was established; the accept side's owner then names the
// server's close record too. The accept side is named by the periodic walk
// of the tasks' files (default), by the first send or receive
// (tcp_accept_owner_hooks), or — with neither in time — at the server's
// own close.
func TestEstablishedRecordsNameEachEnd(t *testing.T) {
	testenv.RequireRoot(t, "ip")
	modes := []struct {
		name  string
		hooks bool
		poll  time.Duration
		// atClose: the accept record can only come from the close.
		atClose bool
	}{
		{"walk", false, 50 * time.Millisecond, false},
		{"socket-hooks", true, time.Hour, false},
		{"at-close", false, time.Hour, true},
	}
	for i, fam := range netFamilies {
		for j, mode := range modes {
			t.Run(fam.name+"/"+mode.name, func(t *testing.T) {
				testEstablished(t, fmt.Sprintf("e%d%d", i, j), fam.addrA, fam.addrB, fam.netType, mode.hooks, mode.poll, mode.atClose)
			})
		}
	}
}

func testEstablished(t *testing.T, tag, addrA, addrB, netType string, hooks bool, poll time.Duration, atClose bool) {
	const port = 18091
	link := plainLink(t, tag, addrA, addrB)
	sink := new(consumertest.LogsSink)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"tcp_connection"}
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.PollInterval = poll
	cfg.TCPAcceptOwnerHooks = hooks
	cfg.Filters.Ports = []int{port}
	startReceiver(t, cfg, sink, nil)

	server := net.JoinHostPort(link.AddrB, "18091")
	serverPID := startEchoServer(t, link.B, server)
	before := time.Now()
	c := dialFrom(t, link.A, server)
	dialed := time.Now()
	local, remote := addrPorts(c)
	echo(t, c, "hello")

	cli := oneRecord(t, sink, contract.EventTCPEstablished, local, remote)
	if atClose {
		time.Sleep(200 * time.Millisecond)
		for _, lr := range findRecords(sink, contract.EventTCPEstablished) {
			require.False(t, endpointIs(lr.Attributes(), "local", remote), "accept side named before any walk, hook or close")
		}
		require.NoError(t, c.Close())
	}
	srv := oneRecord(t, sink, contract.EventTCPEstablished, remote, local)
	ca, sa := cli.Attributes(), srv.Attributes()
	assert.Equal(t, contract.EstablishedConnect, str(ca, contract.AttrTCPEstablishedSide))
	assert.Equal(t, contract.EstablishedAccept, str(sa, contract.AttrTCPEstablishedSide))
	assert.Equal(t, int64(os.Getpid()), integer(ca, contract.AttrProcessPID), "client: this process")
	assert.Equal(t, int64(serverPID), integer(sa, contract.AttrProcessPID), "server: the echo server's process")
	assert.NotEmpty(t, str(sa, contract.AttrProcessExecutable))
	assert.NotEmpty(t, str(sa, contract.AttrCgroupPath))
	assert.Positive(t, integer(sa, contract.AttrThreadID))
	assert.Equal(t, int64(link.A.Inode), integer(ca, contract.AttrNetnsInode))
	assert.Equal(t, int64(link.B.Inode), integer(sa, contract.AttrNetnsInode))
	for name, lr := range map[string]plog.LogRecord{"client": cli, "server": srv} {
		a := lr.Attributes()
		assert.Equal(t, netType, str(a, contract.AttrNetworkType), name)
		// Both ends are established during the handshake, inside
		// the dial (the accept side's record is written later, at
		// the server's first read, but stamped with that time).
		ts := lr.Timestamp().AsTime()
		assert.WithinRange(t, ts, before.Add(-5*time.Millisecond), dialed.Add(5*time.Millisecond), "%s established at the handshake", name)
	}

	// The server's close names its owner.
	_ = c.Close()
	closed := oneRecord(t, sink, contract.EventTCPConnection, remote, local)
	assert.Equal(t, int64(serverPID), integer(closed.Attributes(), contract.AttrProcessPID), "server close names the echo server")
}
