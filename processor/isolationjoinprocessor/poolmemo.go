// Pooled clients: the spans of one resource that call one peer over a
// keep-alive pool share its candidate connections, looked up once per
// batch when the pool did not change during the batch's window.
package isolationjoinprocessor

import (
	"net/netip"
	"slices"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/conntable"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/join"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/spankey"
)

// poolMemo is a resource's candidate connections to one peer, looked up
// over the window of all the resource's spans in the batch.
type poolMemo struct {
	peerAddr netip.Addr
	peerPort uint16
	// steady: every socket the lookup found was open throughout the
	// window (conntable.Table.Steadily), so each span's own window, inside
	// it, finds the same. Otherwise each span looks its own up.
	steady    bool
	refs      []join.ConnRef
	otherEnds []*conntable.Conn
	quality   string
}

// maxPoolMemos bounds the peers memoized per resource: a service calls a
// few; the spans to others look theirs up one by one.
const maxPoolMemos = 4

// window is a span's own bounds and the window its events are looked up
// in: the span widened by the slack on both sides (docs/design.md §4).
type window struct{ start, end, from, to int64 }

func (p *joinProcessor) windowOf(span ptrace.Span) window {
	start, end := clampNs(uint64(span.StartTimestamp())), clampNs(uint64(span.EndTimestamp()))
	if end < start {
		end = start
	}
	// A span without a start time (or one older than the retention) would
	// join against the whole index: its window starts within the
	// retention before its end.
	if start == 0 {
		start = end
	}
	start = max(start, end-int64(p.cfg.Retention))
	slack := int64(p.cfg.Slack)
	return window{start: start, end: end, from: start - slack, to: end + slack}
}

// poolMemos are the pooled clients' candidates of the resource being
// joined; joinTraces resets them for each resource.
type poolMemos struct {
	rs        ptrace.ResourceSpans
	window    window // holds the windows of all rs's spans, once known
	hasWindow bool
	shared    bool // rs has two spans or more: a lone span has nothing to share
	memos     [maxPoolMemos]poolMemo
	n         int
}

func (m *poolMemos) reset(rs ptrace.ResourceSpans) {
	clear(m.memos[:m.n]) // their sockets are the last resource's
	m.n = 0
	m.rs, m.hasWindow = rs, false
}

// windowOf is the smallest window (from and to only) that holds the
// windows of all m.rs's spans, found at the first call; false when m.rs
// has fewer than two spans.
func (m *poolMemos) windowOf(p *joinProcessor) (window, bool) {
	if m.hasWindow {
		return m.window, m.shared
	}
	m.hasWindow = true
	n := 0
	sss := m.rs.ScopeSpans()
	for j := 0; j < sss.Len(); j++ {
		spans := sss.At(j).Spans()
		for k := 0; k < spans.Len(); k++ {
			sw := p.windowOf(spans.At(k))
			if n == 0 {
				m.window.from, m.window.to = sw.from, sw.to
			}
			m.window.from, m.window.to = min(m.window.from, sw.from), max(m.window.to, sw.to)
			n++
		}
	}
	m.shared = n >= 2
	return m.window, m.shared
}

// pooledClient reports whether spanConns finds k's candidates among its
// process's connections to a peer: a client span without a 5-tuple.
func pooledClient(k *spankey.Keys) bool {
	return !(k.Local.IsValid() && k.Peer.IsValid()) && !k.Server && k.HasProcess() &&
		(k.PeerAddr.IsValid() || k.PeerPort != 0)
}

// candidateConns is spanConns for a span of the resource being joined
// with window [from, to]: a pooled client's candidates come from the
// resource's memo of its peer (p.pools). It leaves the candidates' other
// ends in p.otherEnds, as spanConns does. Called with p.mu held.
func (p *joinProcessor) candidateConns(k *spankey.Keys, from, to int64) ([]join.ConnRef, string) {
	if !pooledClient(k) {
		return p.spanConns(k, from, to)
	}
	pools := &p.pools
	for i := range pools.memos[:pools.n] {
		if m := &pools.memos[i]; m.peerAddr == k.PeerAddr && m.peerPort == k.PeerPort {
			if !m.steady {
				return p.spanConns(k, from, to)
			}
			p.otherEnds = append(p.otherEnds[:0], m.otherEnds...)
			return m.refs, m.quality
		}
	}
	all, shared := pools.windowOf(p)
	if !shared || pools.n == maxPoolMemos {
		return p.spanConns(k, from, to)
	}
	var refs []join.ConnRef
	var q string
	m := poolMemo{peerAddr: k.PeerAddr, peerPort: k.PeerPort}
	m.steady = p.conns.Steadily(func() { refs, q = p.spanConns(k, all.from, all.to) })
	if m.steady {
		// Copies: p.refs and p.otherEnds are the next lookup's scratch.
		m.refs, m.otherEnds, m.quality = slices.Clone(refs), slices.Clone(p.otherEnds), q
	}
	pools.memos[pools.n] = m
	pools.n++
	if m.steady {
		return m.refs, m.quality
	}
	return p.spanConns(k, from, to)
}
