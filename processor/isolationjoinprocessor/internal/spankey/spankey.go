// Package spankey reads the join keys of a span (DESIGN §4): the socket's
// local and peer address:port under the old and new semantic conventions,
// and the process the span ran in.
package spankey

import (
	"net/netip"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// Keys are what a span offers to the join.
type Keys struct {
	Local, Peer netip.AddrPort // normalized; invalid when unknown
	// PeerPort is the peer port even when the peer is named by a hostname,
	// which is not an address: such a span matches only through the port
	// plus its process.
	PeerPort uint16
	PeerHost string

	Host        string // resource host.name
	PID         int64
	ContainerID string
	PodUID      string
	// CgroupPath is not a span attribute: the processor fills it in from
	// /proc when the span's process runs on this node.
	CgroupPath string
}

// HasProcess reports whether the span names its process or container.
func (k *Keys) HasProcess() bool {
	return k.PID > 0 || k.ContainerID != "" || k.PodUID != "" || k.CgroupPath != ""
}

// FromResource reads the process keys of a resource; every span under it
// shares them.
func FromResource(res pcommon.Map) Keys {
	return Keys{
		Host:        kevent.Str(res, "host.name"),
		PID:         kevent.Int(res, "process.pid"),
		ContainerID: kevent.Str(res, "container.id"),
		PodUID:      kevent.Str(res, "k8s.pod.uid"),
	}
}

type pair struct{ addr, port string }

// The order of DESIGN §4: the first pair with an address gives the address,
// the first pair with a port gives the port (HTTP clients commonly set
// network.peer.address with server.port).
var (
	peerPairs = []pair{
		{"network.peer.address", "network.peer.port"},
		{"net.sock.peer.addr", "net.sock.peer.port"},
		{"net.peer.ip", "net.peer.port"},
	}
	clientPeer = pair{"server.address", "server.port"} // a client's peer is the server
	serverPeer = pair{"client.address", "client.port"} // a server's peer is the client
	localPairs = []pair{
		{"network.local.address", "network.local.port"},
		{"net.sock.host.addr", "net.sock.host.port"},
		{"net.host.ip", "net.host.port"},
	}
	// On a server span server.port is the local listening port.
	serverLocal = pair{"", "server.port"}

	// Read-only lists per span kind, built once so a span costs no allocation.
	clientPeers  = append(append([]pair{}, peerPairs...), clientPeer)
	serverPeers  = append(append([]pair{}, peerPairs...), serverPeer)
	serverLocals = append(append([]pair{}, localPairs...), serverLocal)
)

// FromSpan reads the network keys of span and adds them to its resource's keys.
func FromSpan(k Keys, span ptrace.Span) Keys {
	attrs := span.Attributes()
	peers, locals := clientPeers, localPairs
	switch span.Kind() {
	case ptrace.SpanKindServer, ptrace.SpanKindConsumer:
		peers, locals = serverPeers, serverLocals
	}
	var peerAddr string
	peerAddr, k.PeerPort = read(attrs, peers)
	if a := kevent.Addr(peerAddr); a.IsValid() {
		if k.PeerPort != 0 {
			k.Peer = netip.AddrPortFrom(a, k.PeerPort)
		}
	} else {
		k.PeerHost = peerAddr
	}
	localAddr, localPort := read(attrs, locals)
	if a := kevent.Addr(localAddr); a.IsValid() && localPort != 0 {
		k.Local = netip.AddrPortFrom(a, localPort)
	}
	return k
}

func read(attrs pcommon.Map, pairs []pair) (addr string, port uint16) {
	for _, p := range pairs {
		if addr == "" && p.addr != "" {
			addr = kevent.Str(attrs, p.addr)
		}
		if port == 0 {
			if n := kevent.Int(attrs, p.port); n > 0 && n <= 65535 {
				port = uint16(n)
			}
		}
	}
	return addr, port
}
