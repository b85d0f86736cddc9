// Package spankey reads the join keys of a span (docs/design.md §4): the socket's
// local and peer address:port under the old and new semantic conventions,
// and the process the span ran in.
package spankey

import (
	"net/netip"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	semconv112 "go.opentelemetry.io/otel/semconv/v1.12.0"
	semconv120 "go.opentelemetry.io/otel/semconv/v1.20.0"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/nodeid"
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
	// PeerAddr is the peer's address when the span names one, with or
	// without a port.
	PeerAddr netip.Addr
	// LocalPort is the span's local port when an attribute gives it (a
	// server span's server.port), with or without a local address.
	LocalPort uint16
	// Server is true for SERVER and CONSUMER spans: the peer is the client.
	Server bool

	Host        string // the resource's node: k8s.node.name, else host.name (internal/nodeid)
	PID         int64
	ContainerID string
	PodUID      string
	// CgroupPath is not a span attribute: the processor fills it in from
	// /proc when the span's process runs on this node.
	CgroupPath string
	// CPUCgroupPath and V2CgroupPath are the process's other cgroup paths
	// (v1 cpu controller, unified), filled in like CgroupPath: cgroup
	// throttling records name the cpu cgroup.
	CPUCgroupPath, V2CgroupPath string
}

// HasProcess reports whether the span names its process or container.
func (k *Keys) HasProcess() bool {
	return k.PID > 0 || k.ContainerID != "" || k.PodUID != "" || k.CgroupPath != ""
}

// FromResource reads the process keys of a resource; every span under it
// shares them.
func FromResource(res pcommon.Map) Keys {
	return Keys{
		Host:        nodeid.Of(res),
		PID:         kevent.Int(res, contract.AttrProcessPID),
		ContainerID: kevent.Str(res, contract.AttrContainerID),
		PodUID:      kevent.Str(res, string(semconv.K8SPodUIDKey)),
	}
}

// The span attributes that carry keys, as slots of one pass over the
// span's attributes (a span has tens of attributes: reading each key with
// Map.Get would scan them once per key).
const (
	slotNetworkPeerAddress = iota
	slotNetSockPeerAddr
	slotNetPeerIP
	slotServerAddress
	slotClientAddress
	slotNetworkLocalAddress
	slotNetSockHostAddr
	slotNetHostIP
	slotNetworkPeerPort
	slotNetSockPeerPort
	slotNetPeerPort
	slotServerPort
	slotClientPort
	slotNetworkLocalPort
	slotNetSockHostPort
	slotNetHostPort
	slotURLFull
	slotNetPeerName
	numSlots
	noSlot = -1
)

// slotKeys names each slot's attribute.
var slotKeys = [numSlots]string{
	slotNetworkPeerAddress:  string(semconv.NetworkPeerAddressKey),
	slotNetSockPeerAddr:     string(semconv120.NetSockPeerAddrKey),
	slotNetPeerIP:           string(semconv112.NetPeerIPKey),
	slotServerAddress:       string(semconv.ServerAddressKey),
	slotClientAddress:       string(semconv.ClientAddressKey),
	slotNetworkLocalAddress: string(semconv.NetworkLocalAddressKey),
	slotNetSockHostAddr:     string(semconv120.NetSockHostAddrKey),
	slotNetHostIP:           string(semconv112.NetHostIPKey),
	slotNetworkPeerPort:     string(semconv.NetworkPeerPortKey),
	slotNetSockPeerPort:     string(semconv120.NetSockPeerPortKey),
	slotNetPeerPort:         string(semconv120.NetPeerPortKey),
	slotServerPort:          string(semconv.ServerPortKey),
	slotClientPort:          string(semconv.ClientPortKey),
	slotNetworkLocalPort:    string(semconv.NetworkLocalPortKey),
	slotNetSockHostPort:     string(semconv120.NetSockHostPortKey),
	slotNetHostPort:         string(semconv120.NetHostPortKey),
	slotURLFull:             string(semconv.URLFullKey),
	slotNetPeerName:         string(semconv120.NetPeerNameKey),
}

// slotsByLen is slotKeys grouped by key length: every attribute of every
// span is looked up here, and most (http.*, an application's own) have a
// length no slot key has, or share it with one or two. A string switch
// over eighteen keys compiles to a binary search of ordered string
// comparisons, several calls per key.
var slotsByLen = func() (by [maxSlotKeyLen + 1][]int) {
	for i, k := range slotKeys {
		by[len(k)] = append(by[len(k)], i)
	}
	return by
}()

const maxSlotKeyLen = 32 // ≥ the longest of slotKeys (a test holds it)

func slotOf(key string) int {
	if len(key) > maxSlotKeyLen {
		return noSlot
	}
	for _, i := range slotsByLen[len(key)] {
		if slotKeys[i] == key {
			return i
		}
	}
	return noSlot
}

type pair struct{ addr, port int }

// The order of docs/design.md §4: the first pair with an address gives the address,
// the first pair with a port gives the port (HTTP clients commonly set
// network.peer.address with server.port).
var (
	peerPairs = []pair{
		{slotNetworkPeerAddress, slotNetworkPeerPort},
		{slotNetSockPeerAddr, slotNetSockPeerPort},
		{slotNetPeerIP, slotNetPeerPort},
	}
	clientPeer = pair{slotServerAddress, slotServerPort} // a client's peer is the server
	// The old conventions' name of a client's peer (a host name, usually).
	clientPeerName = pair{slotNetPeerName, noSlot}
	serverPeer     = pair{slotClientAddress, slotClientPort} // a server's peer is the client
	localPairs     = []pair{
		{slotNetworkLocalAddress, slotNetworkLocalPort},
		{slotNetSockHostAddr, slotNetSockHostPort},
		{slotNetHostIP, slotNetHostPort},
	}
	// On a server span server.port is the local listening port.
	serverLocal = pair{noSlot, slotServerPort}

	// Read-only lists per span kind, built once so a span costs no allocation.
	clientPeers  = append(append([]pair{}, peerPairs...), clientPeer, clientPeerName)
	serverPeers  = append(append([]pair{}, peerPairs...), serverPeer)
	serverLocals = append(append([]pair{}, localPairs...), serverLocal)
)

// slots are the key attributes of one span: the first value of each key
// (Map.Get also returns the first when a key repeats).
type slots struct {
	v     [numSlots]pcommon.Value
	found uint32
}

func (s *slots) str(i int) string {
	if i == noSlot || s.found&(1<<i) == 0 {
		return ""
	}
	return kevent.StrValue(s.v[i])
}

func (s *slots) int(i int) int64 {
	if i == noSlot || s.found&(1<<i) == 0 {
		return 0
	}
	return kevent.IntValue(s.v[i])
}

// FromSpan reads the network keys of span and adds them to its resource's keys.
func FromSpan(k Keys, span ptrace.Span) Keys {
	var sl slots
	for key, v := range span.Attributes().All() {
		if i := slotOf(key); i != noSlot && sl.found&(1<<i) == 0 {
			sl.v[i] = v
			sl.found |= 1 << i
		}
	}
	if sl.found == 0 {
		return k // no network key at all: the common case of internal spans
	}
	peers, locals := clientPeers, localPairs
	switch span.Kind() {
	case ptrace.SpanKindServer, ptrace.SpanKindConsumer:
		peers, locals = serverPeers, serverLocals
		k.Server = true
	}
	var peerAddr string
	peerAddr, k.PeerPort = sl.read(peers)
	if !k.Server && k.PeerPort == 0 {
		// Go's otelhttp writes server.port only when the URL names a
		// non-default one: the URL's scheme gives the rest.
		var host string
		host, k.PeerPort = urlHostPort(sl.str(slotURLFull))
		if peerAddr == "" {
			peerAddr = host
		}
	}
	if a := kevent.Addr(peerAddr); a.IsValid() {
		k.PeerAddr = a
		if k.PeerPort != 0 {
			k.Peer = netip.AddrPortFrom(a, k.PeerPort)
		}
	} else {
		k.PeerHost = peerAddr
	}
	localAddr, localPort := sl.read(locals)
	k.LocalPort = localPort
	if a := kevent.Addr(localAddr); a.IsValid() && localPort != 0 {
		k.Local = netip.AddrPortFrom(a, localPort)
	}
	return k
}

// urlHostPort is the host and port of an absolute URL: its explicit port,
// else its scheme's default (http 80, https 443; ws, wss alike); 0 when
// neither is known. Parsed by hand: url.Parse allocates, and this runs for
// every client span.
func urlHostPort(u string) (host string, port uint16) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "", 0
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	host = rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host = rest[:i]
		if n, err := strconv.ParseUint(rest[i+1:], 10, 16); err == nil && n > 0 {
			return host, uint16(n)
		}
	}
	switch strings.ToLower(scheme) {
	case "http", "ws":
		return host, 80
	case "https", "wss":
		return host, 443
	}
	return host, 0
}

func (s *slots) read(pairs []pair) (addr string, port uint16) {
	for _, p := range pairs {
		if addr == "" {
			addr = s.str(p.addr)
		}
		if port == 0 {
			if n := s.int(p.port); n > 0 && n <= 65535 {
				port = uint16(n)
			}
		}
	}
	return addr, port
}
