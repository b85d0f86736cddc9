package probes

import (
	"fmt"
	"os"
)

// portRange is the kernel's ephemeral port range
// (net.ipv4.ip_local_port_range): the ports connect() picks for clients.
type portRange struct{ lo, hi uint16 }

// defaultEphemeral is Linux's default range, used when the sysctl is unreadable.
var defaultEphemeral = portRange{32768, 60999}

// readEphemeralRange reads the range from procfs.
func readEphemeralRange(path string) (portRange, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return defaultEphemeral, err
	}
	var r portRange
	if _, err := fmt.Sscan(string(raw), &r.lo, &r.hi); err != nil || r.lo > r.hi {
		return defaultEphemeral, fmt.Errorf("parse %s %q: %v", path, raw, err)
	}
	return r, nil
}

func (r portRange) contains(p uint16) bool { return p >= r.lo && p <= r.hi }

// serverPort is the server side's port of a connection seen from one end:
// the peer's port when the local port is ephemeral and the peer's is not (this
// end is the client), else the local port (this end serves it). Metrics keyed
// by it stay bounded: a client's ephemeral port never becomes an attribute.
func (r portRange) serverPort(local, peer uint16) uint16 {
	if r.contains(local) && !r.contains(peer) {
		return peer
	}
	if r.contains(peer) && !r.contains(local) {
		return local
	}
	return min(local, peer) // both or neither ephemeral: the lower is the likelier service
}
