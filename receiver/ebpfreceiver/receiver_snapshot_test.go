package ebpfreceiver

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// A pooled connection opened before the receiver started: the start-up
// snapshot reports each end once as existing with its owner (this process
// for the client, the echo server's process for the server), and a
// retransmit on it afterwards — a timeout, the server's side dropping every
// data segment for a while — names the client's process and waited at
// least the minimum RTO.
func TestSnapshotReportsConnectionsOpenedBeforeStart(t *testing.T) {
	testenv.RequireRoot(t, "ip", "nft")
	const port = 18093
	link := plainLink(t, "s0", "198.18.130.1/30", "198.18.130.2/30")
	server := net.JoinHostPort(link.AddrB, "18093")
	serverPID := startEchoServer(t, link.B, server)
	c := dialFrom(t, link.A, server)
	local, remote := addrPorts(c)
	echo(t, c, "opened before the collector")

	sink := new(consumertest.LogsSink)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"tcp_connection", "tcp_retransmit"}
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.Filters.Ports = []int{port}
	started := time.Now()
	startReceiver(t, cfg, sink, nil)

	cli := oneRecord(t, sink, contract.EventTCPEstablished, local, remote)
	srv := oneRecord(t, sink, contract.EventTCPEstablished, remote, local)
	ca, sa := cli.Attributes(), srv.Attributes()
	assert.Equal(t, contract.EstablishedExisting, str(ca, contract.AttrTCPEstablishedSide))
	assert.Equal(t, contract.EstablishedExisting, str(sa, contract.AttrTCPEstablishedSide))
	assert.Equal(t, int64(os.Getpid()), integer(ca, contract.AttrProcessPID), "client: this process")
	assert.Equal(t, int64(serverPID), integer(sa, contract.AttrProcessPID), "server: the echo server's process")
	assert.Equal(t, int64(link.A.Inode), integer(ca, contract.AttrNetnsInode))
	assert.Equal(t, int64(link.B.Inode), integer(sa, contract.AttrNetnsInode))
	assert.NotEmpty(t, str(ca, contract.AttrCgroupPath))
	assert.NotEmpty(t, str(sa, contract.AttrProcessExecutable))
	for _, ts := range []time.Time{cli.Timestamp().AsTime(), srv.Timestamp().AsTime()} {
		assert.WithinRange(t, ts, started, time.Now(), "stamped with the snapshot time")
	}
	// The listening socket is not a connection.
	for _, lr := range findRecords(sink, contract.EventTCPEstablished) {
		assert.NotEqual(t, int64(0), integer(lr.Attributes(), contract.AttrNetworkPeerPort), "listener reported")
	}

	// Drop every data segment arriving at the server, send, and let the
	// retransmission timer fire at least once before the path heals.
	hold := exec.Command("ip", "netns", "exec", link.B.Name, "nft", "-f", "-")
	hold.Stdin = bytes.NewBufferString(`table inet chx_hold {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 18093 tcp flags & syn == 0 drop
	}
}
`)
	out, err := hold.CombinedOutput()
	require.NoError(t, err, "nft: %s", out)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "exec", link.B.Name, "nft", "delete", "table", "inet", "chx_hold").Run()
	})
	written := time.Now()
	_, err = c.Write([]byte("after start"))
	require.NoError(t, err)
	// The first resend of a lone lost segment is a tail-loss probe (kind
	// other, not measured); the retransmission timer follows.
	retrans := waitRecords(t, sink, contract.EventTCPRetransmit, func(a pcommon.Map) bool {
		return endpointIs(a, "local", local) && endpointIs(a, "peer", remote) &&
			str(a, contract.AttrTCPRetransmitKind) == contract.RetransmitTimeout
	}, "no timeout kernel.tcp.retransmit on the pre-existing connection %s -> %s", local, remote)
	healed := time.Now()
	out, err = exec.Command("ip", "netns", "exec", link.B.Name, "nft", "delete", "table", "inet", "chx_hold").CombinedOutput()
	require.NoError(t, err, "%s", out)
	buf := make([]byte, len("after start"))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.True(t, bytes.Equal(buf, []byte("after start")))

	// Both closes name the owners the snapshot found.
	require.NoError(t, c.Close())
	cliClose := oneRecord(t, sink, contract.EventTCPConnection, local, remote)
	srvClose := oneRecord(t, sink, contract.EventTCPConnection, remote, local)
	assert.Equal(t, int64(os.Getpid()), integer(cliClose.Attributes(), contract.AttrProcessPID), "client close")
	assert.Equal(t, int64(serverPID), integer(srvClose.Attributes(), contract.AttrProcessPID), "server close")

	first := retrans[0].Attributes()
	assert.Equal(t, int64(os.Getpid()), integer(first, contract.AttrProcessPID), "owner from the snapshot")
	assert.Equal(t, contract.RetransmitTimeout, str(first, contract.AttrTCPRetransmitKind))
	wait := time.Duration(integer(first, contract.AttrTCPRetransmitWaitNs))
	assert.GreaterOrEqual(t, wait, 200*time.Millisecond, "a timeout waits at least TCP_RTO_MIN")
	assert.LessOrEqual(t, wait, healed.Sub(written), "the segment waited no longer than it was held back")
	// Every resend of the held segment, the tail-loss probe included, says
	// how long it waited, never longer than since the write.
	for _, lr := range findRecords(sink, contract.EventTCPRetransmit) {
		a := lr.Attributes()
		since := lr.Timestamp().AsTime().Sub(written)
		w := time.Duration(integer(a, contract.AttrTCPRetransmitWaitNs))
		t.Logf("retransmit %v after the write: kind %s wait %v", since, str(a, contract.AttrTCPRetransmitKind), w)
		assert.Positive(t, w, "wait measured")
		assert.LessOrEqual(t, w, since+time.Millisecond, "waited no longer than since the write")
	}
}

// Through a Service-like virtual address (nftables DNAT in the client's
// namespace, the way kube-proxy rewrites a ClusterIP): the client's
// established record has the virtual address as its peer, the server's has
// the client's endpoint unchanged — the key that joins the two ends.
func TestEstablishedThroughDNAT(t *testing.T) {
	testenv.RequireRoot(t, "ip", "nft")
	const port, vport, vip = 18094, 80, "198.18.141.10"
	link := plainLink(t, "d0", "198.18.131.1/30", "198.18.131.2/30")
	link.A.Exec(t, "ip", "route", "add", vip+"/32", "dev", link.DevA)
	rules := `table ip chx_svc {
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr ` + vip + ` tcp dport 80 dnat to ` + link.AddrB + `:18094
	}
}
`
	cmd := exec.Command("ip", "netns", "exec", link.A.Name, "nft", "-f", "-")
	cmd.Stdin = bytes.NewBufferString(rules)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "nft: %s", out)

	sink := new(consumertest.LogsSink)
	cfg := createDefaultConfig()
	cfg.Probes = []string{"tcp_connection"}
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.PollInterval = 50 * time.Millisecond
	cfg.Filters.Ports = []int{port, vport}
	startReceiver(t, cfg, sink, nil)

	serverPID := startEchoServer(t, link.B, net.JoinHostPort(link.AddrB, "18094"))
	c := dialFrom(t, link.A, net.JoinHostPort(vip, "80"))
	local, virtual := addrPorts(c)
	require.Equal(t, vip, virtual.Addr().String(), "the client's socket peer is the virtual address")
	echo(t, c, "via the service address")

	cli := oneRecord(t, sink, contract.EventTCPEstablished, local, virtual)
	assert.Equal(t, contract.EstablishedConnect, str(cli.Attributes(), contract.AttrTCPEstablishedSide))
	assert.Equal(t, int64(os.Getpid()), integer(cli.Attributes(), contract.AttrProcessPID))
	srv := waitRecords(t, sink, contract.EventTCPEstablished, func(a pcommon.Map) bool {
		return endpointIs(a, "peer", local) && str(a, contract.AttrTCPEstablishedSide) == contract.EstablishedAccept
	}, "no server-side record with the client's endpoint %s as peer", local)
	require.Len(t, srv, 1)
	sa := srv[0].Attributes()
	assert.Equal(t, link.AddrB, str(sa, contract.AttrNetworkLocalAddress), "the server sees its own address")
	assert.Equal(t, int64(port), integer(sa, contract.AttrNetworkLocalPort))
	assert.Equal(t, int64(serverPID), integer(sa, contract.AttrProcessPID))
}
