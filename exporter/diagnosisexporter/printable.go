package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The text report is read in terminals and log viewers, and most of it
// comes from spans anyone who can send OTLP controls: service and span
// names, status messages, peers, causes quoting cgroup paths. A newline
// there would forge report lines ("── diagnosis · trace …"), an escape
// sequence would recolour or rewrite the reader's terminal. printable
// escapes them (Go escapes: \n, \x1b, \u202e) before they are rendered.

func printable(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			continue
		}
		if unsafeRune(r) {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		if (r == utf8.RuneError && n == 1) || unsafeRune(r) {
			return true
		}
	}
	return false
}

// unsafeRune: control characters (C0, DEL, C1: newlines, ESC, CSI), line
// and paragraph separators, and bidirectional overrides (which reorder
// what is displayed).
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}

// printableCopy is r with every string a span could have supplied escaped.
func (r *Report) printableCopy() *Report {
	c := *r
	c.TraceID, c.Root, c.Trigger = printable(r.TraceID), printable(r.Root), printable(r.Trigger)
	c.Layer, c.Join, c.Cause, c.Remedy = printable(r.Layer), printable(r.Join), printable(r.Cause), printable(r.Remedy)
	h := &c.SlowHop
	h.Service, h.Peer, h.PeerAddress, h.Span = printable(h.Service), printable(h.Peer), printable(h.PeerAddress), printable(h.Span)
	h.Kind, h.Error = printable(h.Kind), printable(h.Error)
	c.Evidence = make([]Evidence, len(r.Evidence))
	for i, e := range r.Evidence {
		c.Evidence[i] = Evidence{Name: printable(e.Name), Value: e.Value}
		if s, ok := e.Value.(string); ok {
			c.Evidence[i].Value = printable(s)
		}
	}
	c.OtherLayers = make([]Other, len(r.OtherLayers))
	for i, o := range r.OtherLayers {
		c.OtherLayers[i] = Other{Service: printable(o.Service), Span: printable(o.Span), Kind: printable(o.Kind), Layer: printable(o.Layer), Cause: printable(o.Cause), SelfMs: o.SelfMs}
	}
	if r.KernelEvents.Kinds != nil {
		c.KernelEvents.Kinds = make(map[string]int, len(r.KernelEvents.Kinds))
		for k, n := range r.KernelEvents.Kinds {
			c.KernelEvents.Kinds[printable(k)] += n
		}
	}
	return &c
}
