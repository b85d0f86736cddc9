package conntable

import (
	"math"
	"net/netip"
)

// Owner names a process for OfOwner: its pid on host, else its container
// or pod (the first that is set).
type Owner struct {
	Host        string
	PID         int64
	ContainerID string
	PodUID      string
}

// OfOwner appends to dst the connections of o open during [from, to] whose
// peer address is peerAddr (when valid) and whose peer port is peerPort
// (when not 0): a client span's candidate connections.
func (t *Table) OfOwner(dst []*Conn, o Owner, peerAddr netip.Addr, peerPort uint16, from, to int64) []*Conn {
	// Steadily watches the candidates only: the process's sockets to
	// other peers may come and go without changing this answer.
	for c := range t.ofOwner(o).alive(from, to, nil) {
		if peerAddr.IsValid() && c.Peer.Addr() != peerAddr {
			continue
		}
		if peerPort != 0 && c.Peer.Port() != peerPort {
			continue
		}
		if t.steady != nil && !c.openThroughout(from, to) {
			*t.steady = false
		}
		dst = append(dst, c)
	}
	return dst
}

// ofOwner is the sockets of o: by its pid on its host, else its container
// or pod (the first that is set); none when o names nothing.
func (t *Table) ofOwner(o Owner) *socks {
	switch {
	case o.PID > 0:
		return t.byPID.of(hostPID{o.Host, o.PID})
	case o.ContainerID != "":
		return t.byCtr.of(o.ContainerID)
	case o.PodUID != "":
		return t.byPod.of(o.PodUID)
	}
	return &socks{}
}

// OpenedSince reports whether o opened a connection at since or later
// (one whose open time is known).
func (t *Table) OpenedSince(o Owner, since int64) bool {
	// A connection opened since then is open now or closed since then.
	for c := range t.ofOwner(o).alive(since, math.MaxInt64, nil) {
		if c.Opened >= since {
			return true
		}
	}
	return false
}

// ByPeer appends to dst the sockets on host whose peer is ep, open during
// [from, to], and whose local port is localPort when that is not 0: the
// socket a server span was served on (its peer endpoint is the client's).
func (t *Table) ByPeer(dst []*Conn, host string, ep netip.AddrPort, localPort uint16, from, to int64) []*Conn {
	for c := range t.byPeer.of(endpoint{host, ep}).alive(from, to, t.steady) {
		if localPort == 0 || c.Local.Port() == localPort {
			dst = append(dst, c)
		}
	}
	return dst
}

// ByLocal appends to dst the sockets on host whose local endpoint is ep,
// open during [from, to]: the sender's socket of a connection whose peer
// endpoint the collector knows (OTLP/gRPC's client address).
func (t *Table) ByLocal(dst []*Conn, host string, ep netip.AddrPort, from, to int64) []*Conn {
	for c := range t.byLocal.of(endpoint{host, ep}).alive(from, to, t.steady) {
		dst = append(dst, c)
	}
	return dst
}

// ByPeerAddr appends to dst the sockets on host owned by pid, not
// connecting ones, whose peer address is addr (any port), open during
// [from, to]: the collector's accepted sockets from an OTLP/HTTP sender,
// whose port confighttp drops (its exporters' own connections are not).
func (t *Table) ByPeerAddr(dst []*Conn, host string, addr netip.Addr, pid int64, from, to int64) []*Conn {
	for c := range t.byPeerA.of(hostAddr{host, addr}).alive(from, to, t.steady) {
		if c.PID == pid && !c.Connect {
			dst = append(dst, c)
		}
	}
	return dst
}

// Steadily runs lookup, lookups of this table over one window, and
// reports whether every socket they found was open throughout that
// window. Then the same lookups over any window inside it find the same
// sockets and decide the same: the spans of one batch, whose windows lie
// inside the batch's, share one lookup of a keep-alive pool's sockets.
func (t *Table) Steadily(lookup func()) (steady bool) {
	steady = true
	t.steady = &steady
	defer func() { t.steady = nil }()
	lookup()
	return steady
}

// OtherEnds appends to dst the other end of c on the same host, open
// during [from, to]:
//   - the socket with the swapped ends (no translation between them);
//   - through DNAT (a Service VIP: the client's peer is the VIP, the
//     server's local end is the pod), the client endpoint is the one both
//     ends agree on: for a client socket (its local end is its own), the
//     sockets whose peer is c's local end; for a server socket, the socket
//     whose local end is c's peer — when that end belongs to one socket
//     (a client's ephemeral port, not a listener's port shared by every
//     accepted socket).
//
// A client socket's other ends are all found by its own local end, so the
// list keyed by its peer — a busy listener's endpoint, shared by every
// socket it accepted, thousands of them closed — is not scanned for it.
//
// It also reports ownLocal(c, from, to), which it decides on the way: a
// span needs both for each of its candidate connections.
func (t *Table) OtherEnds(dst []*Conn, c *Conn, from, to int64) (ends []*Conn, ownLocal bool) {
	n := len(dst)
	if t.ownLocal(c, from, to) {
		// c's local end is its own: every other end of it — the exact one
		// and any behind a DNAT, whose peer is c's local end too — has c's
		// local end as its peer.
		for y := range t.byPeer.of(endpoint{c.Host, c.Local}).alive(from, to, t.steady) {
			if y != c && !sameSocket(y, c) {
				dst = appendOnce(dst, n, y)
			}
		}
		return dst, true
	}
	peers := t.byLocal.of(endpoint{c.Host, c.Peer})
	switch k := peers.countAlive(from, to, t.steady); {
	case k == 1:
		// c's peer end belongs to one socket: c's client (behind a DNAT
		// its peer is the VIP, not c's local end).
		for y := range peers.alive(from, to, t.steady) {
			if y != c && !sameSocket(y, c) {
				dst = appendOnce(dst, n, y)
			}
		}
	case k > 1:
		// Neither end is a single socket's (two listeners talking?):
		// only the exact other end.
		for y := range peers.alive(from, to, t.steady) {
			if y != c && y.Peer == c.Local {
				dst = appendOnce(dst, n, y)
			}
		}
	}
	return dst, false
}

// ownLocal reports whether c's local end is its own — a connecting
// socket's ephemeral port, not a listener's port shared by the sockets it
// accepted: then any socket whose peer is that end is c's other end.
func (t *Table) ownLocal(c *Conn, from, to int64) bool {
	return c.Connect || t.byLocal.of(endpoint{c.Host, c.Local}).countAlive(from, to, t.steady) == 1
}

// sameSocket reports whether y is a second record of c's own socket.
func sameSocket(y, c *Conn) bool {
	return y.Local == c.Local && y.Peer == c.Peer && (y.Netns == 0 || c.Netns == 0 || y.Netns == c.Netns)
}

func appendOnce(dst []*Conn, from int, c *Conn) []*Conn {
	for _, x := range dst[from:] {
		if x == c {
			return dst
		}
	}
	return append(dst, c)
}
