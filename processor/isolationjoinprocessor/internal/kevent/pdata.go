package kevent

import (
	"math"
	"net/netip"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Generic readers of pdata attribute values and socket addresses, as the
// SDKs and receivers spell them: not specific to kernel events.

// Str reads a string attribute; other scalar types are formatted, maps,
// slices and bytes read as "" (they are never a key).
func Str(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok {
		return ""
	}
	return StrValue(v)
}

// StrValue is Str of a value already found.
func StrValue(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		return v.AsString()
	}
	return ""
}

// Int reads an integer attribute written as an int, a whole double or a
// decimal string (SDKs disagree); anything else reads as 0.
func Int(m pcommon.Map, key string) int64 {
	v, ok := m.Get(key)
	if !ok {
		return 0
	}
	return IntValue(v)
}

// IntValue is Int of a value already found.
func IntValue(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if f != f || f > math.MaxInt64 || f < math.MinInt64 {
			return 0
		}
		return int64(f)
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(strings.TrimSpace(v.Str()), 10, 64)
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}

// Addr parses and normalizes an address: IPv4-mapped IPv6 becomes IPv4 and
// the zone is dropped, so the same socket compares equal however a side
// spelled it. A hostname (or garbage) is invalid.
func Addr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if !maybeAddr(s) {
		// A host name (server.address of most client spans): ParseAddr
		// would allocate its error for every span.
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// maybeAddr reports whether s can be an IP literal: IPv6 has a colon,
// IPv4 only digits and dots.
func maybeAddr(s string) bool {
	if strings.IndexByte(s, ':') >= 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// AddrPort combines a normalized address with a port; invalid unless both
// are usable.
func AddrPort(addr string, port int64) netip.AddrPort {
	a := Addr(addr)
	if !a.IsValid() || port <= 0 || port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(port))
}
