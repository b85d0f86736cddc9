package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"

import (
	"context"
	"net"
	"net/netip"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/nodeid"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/conntable"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/join"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/spankey"
)

// How a resource without a process identity of its own was tied to its
// process (the identity attribute of spans_identified).
const (
	identityOTLPSender = "otlp_sender"
	identityServerPeer = "server_peer"
)

// senderSkew widens the instant a batch arrived when asking which socket
// delivered it: the kernel's clock, converted to wall-clock time, and the
// collector's may disagree by a little.
const senderSkew = time.Second

// connOf is the socket a kernel record describes, with its owner.
func connOf(e *kevent.Event) conntable.Conn {
	return conntable.Conn{
		Host: e.Host, Local: e.Local, Peer: e.Peer, Netns: e.Netns,
		PID: e.PID, ContainerID: e.ContainerID, CgroupPath: e.CgroupPath, PodUID: e.PodUID, Exe: e.Exe,
	}
}

// track feeds the connection table from one record and reports whether
// the record is also evidence to index (an establishment is not: it only
// says who owns the socket). Called with p.mu held.
func (p *joinProcessor) track(e *kevent.Event) (index bool, evicted int) {
	if !e.HasTuple() {
		return true, 0
	}
	switch e.Name {
	case contract.EventTCPEstablished:
		c := connOf(e)
		side := e.D().Side
		if side != contract.EstablishedExisting {
			c.Opened = e.Time
		}
		c.Connect = side == contract.EstablishedConnect
		if side == contract.EstablishedAccept {
			// An accepted socket's owner is claimed after the fact (at
			// its first I/O, or by a periodic walk): its record comes
			// late. Spans wait that long too, so a server span finds
			// its socket (bounded by max_delay).
			if lag := p.now().UnixNano() - e.Time; lag > p.acceptLag {
				p.acceptLag = min(lag, int64(p.cfg.MaxDelay))
			}
		}
		return false, p.conns.Open(c, e.Time)
	case contract.EventTCPConnection:
		return true, p.conns.Close(connOf(e), e.Time, e.D().LifetimeNs)
	}
	if e.HasProcess() {
		return true, p.conns.Seen(connOf(e), e.Time)
	}
	return true, 0
}

// needsIdentity reports whether a resource's spans name no process of
// their own although they may run on this node: stock SDK resources
// (Go, Python, .NET) carry no process.pid.
func (ri *resourceInfo) needsIdentity(hostname string) bool {
	return ri.keys.Host == hostname && !ri.keys.HasProcess()
}

// adopt gives ri the process that owns socket c, found through the
// connection table. Called with p.mu held.
func (p *joinProcessor) adopt(ri *resourceInfo, c *conntable.Conn, how string) {
	ri.identity = how
	ri.keys.PID = c.PID
	ri.keys.ContainerID = c.ContainerID
	ri.keys.PodUID = c.PodUID
	ri.keys.CgroupPath = c.CgroupPath
	p.place(ri)
	if ri.keys.CgroupPath == "" {
		ri.keys.CgroupPath = c.CgroupPath
	}
}

// senderOwner is the socket on this node that delivered the batch of ctx
// (client.Info.Addr, set by the OTLP receiver), when one process owns it:
//   - OTLP/gRPC gives the sender's address and port: the socket whose
//     local end that is;
//   - OTLP/HTTP (confighttp) keeps only the address: the collector's own
//     accepted sockets from that address lead, through their peer ends, to
//     the senders' sockets — one owner when each pod or namespace has its
//     own address; several (processes sharing the host's network or
//     loopback) is no answer.
//
// Called with p.mu held.
func (p *joinProcessor) senderOwner(ctx context.Context, at time.Time) *conntable.Conn {
	if p.conns.Len() == 0 {
		return nil
	}
	ep, addr := netAddr(client.FromContext(ctx).Addr)
	from, to := at.Add(-senderSkew).UnixNano(), at.Add(senderSkew).UnixNano()
	cands := p.connBuf[:0]
	switch {
	case ep.IsValid():
		cands = p.conns.ByLocal(cands, p.hostname, ep, from, to)
	case addr.IsValid():
		accepted := p.conns.ByPeerAddr(p.acceptBuf[:0], p.hostname, addr, p.pid, from, to)
		for _, a := range accepted {
			cands = p.conns.ByLocal(cands, p.hostname, a.Peer, from, to)
		}
		p.acceptBuf = accepted[:0]
	}
	owner := uniqueOwner(cands)
	clear(cands)
	p.connBuf = cands[:0]
	return owner
}

// netAddr reads a client address: ep when it has a port, else addr alone.
func netAddr(a net.Addr) (ep netip.AddrPort, addr netip.Addr) {
	switch a := a.(type) {
	case nil:
		return
	case *net.TCPAddr:
		ep = a.AddrPort()
	case *net.IPAddr:
		addr, _ = netip.AddrFromSlice(a.IP)
	default:
		var err error
		if ep, err = netip.ParseAddrPort(a.String()); err != nil {
			addr = kevent.Addr(a.String())
		}
	}
	if ep.IsValid() {
		ep = netip.AddrPortFrom(ep.Addr().Unmap().WithZone(""), ep.Port())
		if ep.Port() == 0 {
			return netip.AddrPort{}, ep.Addr()
		}
		return ep, netip.Addr{}
	}
	return netip.AddrPort{}, addr.Unmap().WithZone("")
}

// uniqueOwner is the first of cands when they all have one owner, else nil.
func uniqueOwner(cands []*conntable.Conn) *conntable.Conn {
	var first *conntable.Conn
	for _, c := range cands {
		if !c.HasOwner() {
			continue
		}
		if first == nil {
			first = c
			continue
		}
		if c.PID != first.PID || c.ContainerID != first.ContainerID {
			return nil
		}
	}
	return first
}

// serverOwner is the owner of the socket a server span was served on: the
// one whose peer is the span's peer endpoint (and whose local port is the
// span's, when an attribute gives it). Called with p.mu held.
func (p *joinProcessor) serverOwner(k *spankey.Keys, from, to int64) *conntable.Conn {
	if !k.Server || !k.Peer.IsValid() || p.conns.Len() == 0 {
		return nil
	}
	cands := p.conns.ByPeer(p.connBuf[:0], k.Host, k.Peer, k.LocalPort, from, to)
	owner := uniqueOwner(cands)
	clear(cands)
	p.connBuf = cands[:0]
	return owner
}

// spanConns finds the span's connection(s) in the table, and their other
// ends on this node, into p.refs (and the other ends' sockets into
// p.otherEnds), and says how well they are known:
//   - a 5-tuple on the span: that socket;
//   - a server span: the socket whose peer is the span's peer endpoint;
//   - a client span: its process's connections to the peer address (and
//     port), or — for a host name — to the remote port, open in the window.
//
// One candidate is the span's connection exactly (5tuple); several (a
// keep-alive pool) are candidates (peer). Called with p.mu held.
func (p *joinProcessor) spanConns(k *spankey.Keys, from, to int64) ([]join.ConnRef, string) {
	p.refs, p.otherEnds = p.refs[:0], p.otherEnds[:0]
	if p.conns.Len() == 0 {
		return nil, ""
	}
	cands := p.connBuf[:0]
	switch {
	case k.Local.IsValid() && k.Peer.IsValid():
		same := p.conns.ByLocal(p.acceptBuf[:0], k.Host, k.Local, from, to)
		for _, c := range same {
			if c.Peer == k.Peer {
				cands = append(cands, c)
			}
		}
		clear(same)
		p.acceptBuf = same[:0]
	case k.Server:
		if k.Peer.IsValid() {
			cands = p.conns.ByPeer(cands, k.Host, k.Peer, k.LocalPort, from, to)
		}
	case k.HasProcess() && (k.PeerAddr.IsValid() || k.PeerPort != 0):
		owner := conntable.Owner{Host: k.Host, PID: k.PID, ContainerID: k.ContainerID, PodUID: k.PodUID}
		cands = p.conns.OfOwner(cands, owner, k.PeerAddr, k.PeerPort, from, to)
	}
	q := ""
	switch len(cands) {
	case 0:
	case 1:
		q = join.Quality5Tuple
	default:
		q = join.QualityPeer
	}
	for i, c := range cands {
		n := len(p.otherEnds)
		var own bool
		p.otherEnds, own = p.conns.OtherEnds(p.otherEnds, c, from, to)
		p.refs = append(p.refs, join.ConnRef{Local: c.Local, Peer: c.Peer, Netns: c.Netns, OwnLocal: own, Cand: i})
		for _, o := range p.otherEnds[n:] {
			p.refs = append(p.refs, join.ConnRef{Local: o.Local, Peer: o.Peer, Netns: o.Netns, Cand: i})
		}
	}
	clear(cands)
	p.connBuf = cands[:0]
	return p.refs, q
}

// identityCounts counts, per batch, the spans whose process was found
// through the connection table.
type identityCounts struct{ sender, server int64 }

func (c *identityCounts) add(how string) {
	switch how {
	case identityOTLPSender:
		c.sender++
	case identityServerPeer:
		c.server++
	}
}

func (c *identityCounts) record(ctx context.Context, tel *metadata.TelemetryBuilder) {
	for _, x := range [...]struct {
		how string
		n   int64
	}{{identityOTLPSender, c.sender}, {identityServerPeer, c.server}} {
		if x.n > 0 {
			tel.ProcessorIsolationJoinSpansIdentified.Add(ctx, x.n, metric.WithAttributes(attribute.String("identity", x.how)))
		}
	}
}

// oneCandidate keeps, of the retransmits found on several candidate
// connections (a keep-alive pool), only those of the candidate that lost
// the most time within [start, end]: the span's exchange ran on one
// connection, so losses of concurrent exchanges on the others must not
// add up on it. Called with p.mu held.
func (p *joinProcessor) oneCandidate(events []*kevent.Event, refs []join.ConnRef, start, end int64) []*kevent.Event {
	var buf [8]int64
	lost := buf[:0]
	candOf := func(e *kevent.Event) int {
		for i := range refs {
			if refs[i].On(e) {
				return refs[i].Cand
			}
		}
		return -1
	}
	for _, e := range events {
		if e.Name != contract.EventTCPRetransmit {
			continue
		}
		if c := candOf(e); c >= 0 {
			for len(lost) <= c {
				lost = append(lost, 0)
			}
			lost[c] += max(min(e.Time, end)-max(e.Time-max(e.DurationNs, 1), start), 0)
		}
	}
	best, used := -1, 0
	for c, t := range lost {
		if t > 0 {
			used++
			if best < 0 || t > lost[best] {
				best = c
			}
		}
	}
	if used < 2 {
		return events
	}
	kept := events[:0]
	for _, e := range events {
		if e.Name == contract.EventTCPRetransmit {
			if c := candOf(e); c >= 0 && c != best {
				continue
			}
		}
		kept = append(kept, e)
	}
	clear(events[len(kept):])
	return kept
}

// acceptClaimWait is how long the spans of an unnamed process wait, at
// least, for the establishment records of accepted sockets — the one a
// server span was served on, the collector's own that delivered the batch
// over OTLP/HTTP: the receiver claims an accepted socket's owner by a walk
// every poll_interval (default 1s) unless its I/O hooks are on.
const acceptClaimWait = int64(time.Second)

// acceptWait is how far past its end a batch delivered by ctx waits for
// accepted sockets' late establishment records: the longest delay seen,
// and at least acceptClaimWait when the batch has spans whose process only
// the connection table can name; bounded by max_delay. Nothing when no
// such record can change how the batch joins (settledSender). Called with
// p.mu held.
func (p *joinProcessor) acceptWait(ctx context.Context, td ptrace.Traces) int64 {
	anonymous, named := resourceKinds(td)
	wait := p.acceptLag
	if anonymous && p.conns.Len() > 0 {
		wait = max(wait, acceptClaimWait)
	}
	wait = min(wait, int64(p.cfg.MaxDelay))
	if wait > 0 && anonymous && !named && p.settledSender(ctx, td, wait) {
		return 0
	}
	return wait
}

// settledSender reports whether the late records of accepted sockets can
// change nothing for td, a batch whose resources name no process: none of
// its spans was served on an accepted socket (no server or consumer span),
// the OTLP sender that delivered it is in the connection table already
// (its process is the spans'), and that process opened no connection
// within the last wait — the other end of an older one, when it is on
// this node, has been claimed by now. Such a batch is held only until the
// node's watermark covers it: a client service's spans, most of a node's,
// are not held the accept wait (a second) for nothing. Called with p.mu
// held.
func (p *joinProcessor) settledSender(ctx context.Context, td ptrace.Traces, wait int64) bool {
	for s := range spansOf(td) {
		if k := s.Kind(); k == ptrace.SpanKindServer || k == ptrace.SpanKindConsumer {
			return false
		}
	}
	now := p.now()
	sender := p.senderOwner(ctx, now)
	if sender == nil {
		return false
	}
	return !p.conns.OpenedSince(sender.Owner(), now.UnixNano()-wait)
}

// resourceKinds reports whether td has spans under a resource that names
// no process (the SDKs' default resources), and under one that does.
func resourceKinds(td ptrace.Traces) (anonymous, named bool) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		if rs.ScopeSpans().Len() == 0 {
			continue
		}
		if namesNoProcess(rs.Resource().Attributes()) {
			anonymous = true
		} else {
			named = true
		}
	}
	return anonymous, named
}

// namesNoProcess reports whether a resource names neither a process
// (pid, container, pod) nor a node.
func namesNoProcess(res pcommon.Map) bool {
	for _, k := range [...]string{contract.AttrProcessPID, contract.AttrContainerID, string(semconv.K8SPodUIDKey), nodeid.AttrHostName} {
		if _, ok := res.Get(k); ok {
			return false
		}
	}
	return true
}
