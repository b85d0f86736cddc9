package classify

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// noEvidence is the cause of a span with no layer's time among its
// nEvents events. Its verdict, app, says where the time went: the line
// does not repeat it on every healthy span (most spans, each exported,
// compressed and stored with it).
func noEvidence(nEvents int) string {
	if nEvents < len(noEvidenceCauses) {
		return noEvidenceCauses[nEvents]
	}
	return noEvidenceAmong(nEvents)
}

func noEvidenceAmong(nEvents int) string {
	return "no layer evidence among the span's " + strconv.Itoa(nEvents) + " kernel events"
}

// noEvidenceCauses are noEvidence's lines for the few events a span
// usually has, made once: most spans get one, each would allocate it.
var noEvidenceCauses = func() (c [16]string) {
	c[0] = "no kernel evidence in the span's window"
	for n := 1; n < len(c); n++ {
		c[n] = noEvidenceAmong(n)
	}
	return c
}()

// causeResolution is the least time a cause names: ms writes tenths of
// a millisecond, so less rounds to "0ms".
const causeResolution = 50 * time.Microsecond

// cause lists every layer of ranked with its events and time, most first;
// weak (the top layer's time, top, explains too little of the span's
// length) says so first.
func cause(events []Attributed, perLayer *[numLayers]int64, ranked []int, weak bool, top, length int64) string {
	var b strings.Builder
	if weak {
		b.Grow(192)
		b.WriteString("kernel evidence explains too little of the span (")
		ms(&b, top)
		b.WriteString(" of ")
		ms(&b, length)
		b.WriteString("); ")
	} else {
		b.Grow(96)
	}
	for i, l := range ranked {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(layerOrder[l])
		b.WriteString(": ")
		describe(&b, events, layerOrder[l])
		b.WriteString(" (")
		ms(&b, perLayer[l])
		b.WriteString(")")
	}
	return b.String()
}

func ms(b *strings.Builder, ns int64) {
	var buf [32]byte
	// A tenth of a millisecond is all a human line needs.
	tenths := math.Round(nsToMs(ns) * 10)
	if tenths >= 0 && tenths < 1<<53 {
		// What AppendFloat(tenths/10, 'f', -1) writes, without the
		// shortest-representation search: whole part, then the tenth
		// unless it is zero.
		t := int64(tenths)
		out := strconv.AppendInt(buf[:0], t/10, 10)
		if d := t % 10; d != 0 {
			out = append(out, '.', byte('0'+d))
		}
		b.Write(out)
	} else {
		b.Write(strconv.AppendFloat(buf[:0], tenths/10, 'f', -1, 64))
	}
	b.WriteString("ms")
}

// describe writes the human part of the cause for one layer to b. Spans
// carry few events: a linear scan beats a map here.
func describe(b *strings.Builder, events []Attributed, layer string) {
	type agg struct {
		name, phase string
		n           int
		t, periods  int64
		first       *kevent.Event // its detail names the group
	}
	var buf [8]agg
	aggs := buf[:0]
	for _, a := range events {
		if a.Layer != layer {
			continue
		}
		e := a.Event
		phase := ""
		if e.Name == contract.EventSyscallSlow && e.Detail != nil {
			phase = e.Detail.SyscallPhase
		}
		i := 0
		for i < len(aggs) && (aggs[i].name != e.Name || aggs[i].phase != phase) {
			i++
		}
		if i == len(aggs) {
			aggs = append(aggs, agg{name: e.Name, phase: phase, first: e})
		}
		g := &aggs[i]
		g.n++
		g.t += a.TimeNs
		if e.Detail != nil {
			g.periods += max(e.Detail.ThrottledPeriods, 0)
		}
	}
	for i, g := range aggs {
		if i > 0 {
			b.WriteString(", ")
		}
		switch g.name {
		case contract.EventTCPRetransmit:
			plural(b, g.n, "tcp retransmit")
		case contract.EventTCPReset:
			plural(b, g.n, "tcp reset")
		case contract.EventSKBDrop:
			plural(b, g.n, "packet drop")
		case contract.EventCgroupThrottle:
			b.WriteString("cgroup cpu throttled ")
			ms(b, g.t)
			if g.periods > 0 {
				b.WriteString(" (")
				plural(b, int(g.periods), "period")
				b.WriteString(")")
			}
		case contract.EventSchedDelay:
			b.WriteString("run-queue delay ")
			ms(b, g.t)
		case contract.EventSyscallSlow:
			switch g.phase {
			case "entry":
				b.WriteString("syscall entry wait ")
			case "sandbox":
				b.WriteString("sandbox syscall traps ")
			default:
				b.WriteString("slow syscalls ")
			}
			ms(b, g.t)
		case contract.EventBlockIO:
			b.WriteString("block io ")
			ms(b, g.t)
		case contract.EventCPUSteal:
			b.WriteString("cpu steal ")
			ms(b, g.t)
		case contract.EventOOMKill:
			b.WriteString("memcg OOM kill")
		case contract.EventNetTxTimeout:
			b.WriteString("tx timeout")
		case contract.EventConntrackInsertFailed:
			plural(b, g.n, "conntrack insert failure")
		default:
			plural(b, g.n, g.name)
		}
		writeDetail(b, g.first)
	}
}

// writeDetail writes what names the event's object (peer, reason,
// syscall, device…), straight into b: no string per event.
func writeDetail(b *strings.Builder, e *kevent.Event) {
	d := e.Detail
	if d == nil {
		d = &noDetail
	}
	switch e.Name {
	case contract.EventTCPRetransmit, contract.EventTCPReset:
		if e.Peer.IsValid() {
			b.WriteString(" to ")
			var buf [64]byte
			b.Write(e.Peer.AppendTo(buf[:0]))
		}
	case contract.EventSKBDrop:
		paren(b, d.DropReason)
	case contract.EventSyscallSlow:
		paren(b, d.SyscallName)
	case contract.EventBlockIO:
		on(b, d.BlockDevice)
	case contract.EventOOMKill:
		paren(b, e.Exe)
	case contract.EventNetTxTimeout:
		on(b, d.Interface)
	}
}

var noDetail kevent.Detail

func paren(b *strings.Builder, s string) {
	if s != "" {
		b.WriteString(" (")
		b.WriteString(s)
		b.WriteByte(')')
	}
}

func on(b *strings.Builder, s string) {
	if s != "" {
		b.WriteString(" on ")
		b.WriteString(s)
	}
}

func plural(b *strings.Builder, n int, what string) {
	b.WriteString(strconv.Itoa(n))
	b.WriteByte(' ')
	b.WriteString(what)
	if n != 1 {
		b.WriteByte('s')
	}
}
