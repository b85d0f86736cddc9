package kevent

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAddrNormalizesLiteralsAndRejectsHostNames(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.7":              "10.0.0.7",
		"::ffff:10.0.0.7":       "10.0.0.7", // mapped: the same socket as the IPv4 spelling
		"[2001:db8::1]":         "2001:db8::1",
		"fe80::1%eth0":          "fe80::1", // the zone is dropped
		"payment":               "",
		"cart.internal":         "",
		"abc":                   "", // hex digits, but not an IPv6 literal without a colon
		"1234":                  "", // digits alone are not an address
		"10.0.0":                "",
		"payment.default.svc.1": "",
		"":                      "",
	} {
		got := Addr(in)
		if want == "" {
			assert.False(t, got.IsValid(), "Addr(%q) = %v, want invalid", in, got)
			continue
		}
		assert.Equal(t, netip.MustParseAddr(want), got, "Addr(%q)", in)
	}
}

func TestAddrAllocatesNothingForAHostName(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { _ = Addr("cart.internal") })
	assert.Zero(t, allocs)
}
