// Keys: how events are keyed (packed endpoints, connections both ways, devices, processes per node).
package index

import (
	"bytes"
	"net/netip"

	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// addrKey is an address:port packed into plain bytes: hashed and compared
// as one block of memory, half the size of a netip.AddrPort (which carries
// a pointer and padding). Addresses are normalized before they get here
// (IPv4-mapped IPv6 is IPv4, no zone), so the 16-byte form is faithful.
type addrKey struct {
	a [16]byte
	p [2]byte
}

func keyOf(ap netip.AddrPort) addrKey {
	port := ap.Port()
	return addrKey{a: ap.Addr().As16(), p: [2]byte{byte(port >> 8), byte(port)}}
}

func (k addrKey) less(o addrKey) bool {
	if c := bytes.Compare(k.a[:], o.a[:]); c != 0 {
		return c < 0
	}
	return k.p[0] < o.p[0] || (k.p[0] == o.p[0] && k.p[1] < o.p[1])
}

// Tuple is a connection keyed the same from both ends: the lower
// address:port first. One lookup then finds what either end saw.
type Tuple struct{ A, B addrKey }

// Conn returns the key of the connection between x and y.
func Conn(x, y netip.AddrPort) Tuple {
	a, b := keyOf(x), keyOf(y)
	if b.less(a) {
		a, b = b, a
	}
	return Tuple{a, b}
}

type devKey struct{ host, dev string }

// blockDevice is the disk an IO event loads: the backing device of a loop
// device, else its own.
func blockDevice(e *kevent.Event) string {
	if e.Detail == nil {
		return ""
	}
	if e.Detail.BackingDevice != "" {
		return e.Detail.BackingDevice
	}
	return e.Detail.BlockDevice
}

type hostPID struct {
	host string
	pid  int64
}
