package main

import (
	"net"
	"net/http"
	"net/http/httptrace"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// The connection's addresses as semantic-convention attributes
// (network.local.address|port, network.peer.address|port): otelhttp sets the
// peer on server spans only; with these, both kinds of span carry the
// socket's 5-tuple, as well-instrumented services do.

func addrAttrs(prefix string, a net.Addr) []attribute.KeyValue {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return nil
	}
	return []attribute.KeyValue{
		attribute.String(prefix+".address", tcp.IP.String()),
		attribute.Int(prefix+".port", tcp.Port),
	}
}

// connAttrs sits under otelhttp's transport, so the request context holds
// the client span; it adds the connection's local and peer address when
// the connection is obtained.
type connAttrs struct{ base http.RoundTripper }

func (c connAttrs) RoundTrip(r *http.Request) (*http.Response, error) {
	span := trace.SpanFromContext(r.Context())
	ct := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		span.SetAttributes(addrAttrs("network.local", info.Conn.LocalAddr())...)
		span.SetAttributes(addrAttrs("network.peer", info.Conn.RemoteAddr())...)
	}}
	return c.base.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), ct)))
}

// localAddr adds network.local.* to the server span of each request.
func localAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			trace.SpanFromContext(r.Context()).SetAttributes(addrAttrs("network.local", a)...)
		}
		next.ServeHTTP(w, r)
	})
}
