package spankey

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestFromSpan(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name  string
		kind  ptrace.SpanKind
		attrs map[string]any
		want  Keys
	}{
		{"new semconv", ptrace.SpanKindClient, map[string]any{
			"network.peer.address": "198.18.64.2", "network.peer.port": 80, "network.local.address": "198.18.64.1", "network.local.port": 4000,
		}, Keys{Peer: ap("198.18.64.2:80"), PeerPort: 80, PeerAddr: ap("198.18.64.2:80").Addr(), Local: ap("198.18.64.1:4000"), LocalPort: 4000}},
		{"address and port from different pairs", ptrace.SpanKindClient, map[string]any{
			"network.peer.address": "198.18.64.2", "server.address": "api.example", "server.port": 443,
		}, Keys{Peer: ap("198.18.64.2:443"), PeerPort: 443, PeerAddr: ap("198.18.64.2:443").Addr()}},
		{"first pair wins", ptrace.SpanKindClient, map[string]any{
			"network.peer.address": "198.18.64.2", "net.peer.ip": "198.18.64.9", "network.peer.port": 1, "net.peer.port": 2,
		}, Keys{Peer: ap("198.18.64.2:1"), PeerPort: 1, PeerAddr: ap("198.18.64.2:1").Addr()}},
		{"hostname", ptrace.SpanKindClient, map[string]any{"server.address": "db.example", "server.port": "5432"},
			Keys{PeerHost: "db.example", PeerPort: 5432}},
		{"server span: client is the peer, server.port the local port", ptrace.SpanKindServer, map[string]any{
			"client.address": "::ffff:198.18.64.1", "client.port": 4000, "server.address": "api.example", "server.port": 8080,
			"network.local.address": "198.18.64.2",
		}, Keys{Peer: ap("198.18.64.1:4000"), PeerPort: 4000, PeerAddr: ap("198.18.64.1:4000").Addr(), Local: ap("198.18.64.2:8080"), LocalPort: 8080, Server: true}},
		{"server.address is not the peer of a server span", ptrace.SpanKindServer, map[string]any{"server.address": "198.18.64.2", "server.port": 8080},
			Keys{LocalPort: 8080, Server: true}},
		{"bad port", ptrace.SpanKindClient, map[string]any{"network.peer.address": "198.18.64.2", "network.peer.port": 70000},
			Keys{PeerAddr: ap("198.18.64.2:1").Addr()}},
		{"otelhttp client: host name, default port from url.full", ptrace.SpanKindClient, map[string]any{
			"server.address": "backend.svc", "url.full": "http://backend.svc/api?x=1", "http.request.method": "GET",
		}, Keys{PeerHost: "backend.svc", PeerPort: 80}},
		{"https default port", ptrace.SpanKindClient, map[string]any{"server.address": "api.example", "url.full": "https://api.example/"},
			Keys{PeerHost: "api.example", PeerPort: 443}},
		{"explicit port in url.full", ptrace.SpanKindClient, map[string]any{"url.full": "http://user@[2001:db8::1]:8443/x"},
			Keys{PeerAddr: ap("[2001:db8::1]:8443").Addr(), PeerPort: 8443, Peer: ap("[2001:db8::1]:8443")}},
		{"server.port beats url.full's scheme", ptrace.SpanKindClient, map[string]any{"server.address": "b", "server.port": 9000, "url.full": "http://b:9000/"},
			Keys{PeerHost: "b", PeerPort: 9000}},
		{"old conventions, client", ptrace.SpanKindClient, map[string]any{"net.peer.name": "db", "net.peer.ip": "198.18.64.2", "net.peer.port": 5432},
			Keys{Peer: ap("198.18.64.2:5432"), PeerAddr: ap("198.18.64.2:5432").Addr(), PeerPort: 5432}},
		{"old conventions, host name only", ptrace.SpanKindClient, map[string]any{"net.peer.name": "db", "net.peer.port": 5432},
			Keys{PeerHost: "db", PeerPort: 5432}},
		{"old conventions, server", ptrace.SpanKindServer, map[string]any{"net.peer.ip": "198.18.64.1", "net.peer.port": 4000, "net.host.name": "api", "net.host.port": 8080},
			Keys{Peer: ap("198.18.64.1:4000"), PeerAddr: ap("198.18.64.1:4000").Addr(), PeerPort: 4000, LocalPort: 8080, Server: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			span := ptrace.NewSpan()
			span.SetKind(tt.kind)
			assert.NoError(t, span.Attributes().FromRaw(tt.attrs))
			got := FromSpan(FromResource(pcommon.NewMap()), span)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFromResource(t *testing.T) {
	res := pcommon.NewMap()
	res.PutStr("host.name", "n1")
	res.PutStr("process.pid", "42")
	res.PutStr("container.id", "c")
	res.PutStr("k8s.pod.uid", "u")
	k := FromResource(res)
	assert.Equal(t, Keys{Host: "n1", PID: 42, ContainerID: "c", PodUID: "u"}, k)
	assert.True(t, k.HasProcess())
}

func TestSlotOfFindsEveryKeyAndNoOther(t *testing.T) {
	for i, k := range slotKeys {
		assert.LessOrEqual(t, len(k), maxSlotKeyLen, k)
		assert.Equal(t, i, slotOf(k), k)
	}
	for _, k := range []string{"", "http.request.method", "url.scheme", "server.portx", "network.peer.addres", "app.attr0", "net.peer.name.x"} {
		assert.Equal(t, noSlot, slotOf(k), k)
	}
}

func BenchmarkFromSpan(b *testing.B) {
	span := ptrace.NewSpan()
	span.SetKind(ptrace.SpanKindClient)
	a := span.Attributes()
	// Go otelhttp's client span, plus an application's own.
	a.PutStr("http.request.method", "GET")
	a.PutStr("url.full", "http://payment/checkout")
	a.PutStr("server.address", "payment")
	a.PutInt("http.response.status_code", 200)
	a.PutStr("network.protocol.version", "1.1")
	a.PutStr("user_agent.original", "Go-http-client/1.1")
	a.PutStr("url.scheme", "http")
	for k := range 6 {
		a.PutStr(fmt.Sprintf("app.attr%d", k), "v")
	}
	res := Keys{Host: "node-a", PID: 7}
	b.ReportAllocs()
	for b.Loop() {
		k := FromSpan(res, span)
		if k.PeerPort != 80 {
			b.Fatal(k)
		}
	}
}
