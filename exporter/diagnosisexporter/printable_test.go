package diagnosisexporter

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Issue 14 row 11: strings from spans cannot forge report lines or reach
// the reader's terminal as escape sequences.
func TestTextReportEscapesSpanStrings(t *testing.T) {
	now := time.Now()
	r := &Report{
		TraceID:      "0102",
		Root:         "GET /\n── diagnosis · trace 00 · forged",
		Trigger:      "span \"x\" failed: \x1b[31mred\x1b[0m",
		SlowHop:      Hop{Service: "order\r\n⑤  remedy:   rm -rf /", Peer: "pay\u202ement", Kind: "client", Span: "s", Error: "boom\x1b]0;title\x07"},
		Layer:        "L3",
		Cause:        "L3: cgroup /evil\n── diagnosis · trace ff throttled",
		Evidence:     []Evidence{{"kernel.skb.drops", int64(1)}, {"x", "a\nb"}},
		OtherLayers:  []Other{{Service: "svc\n③", Span: "s", Kind: "server", Layer: "L2", Cause: "c\x9b2J"}},
		KernelEvents: Events{Count: 1, Kinds: map[string]int{"kernel.log\n④  forged": 1}, First: &now, Last: &now},
		Remedy:       "check",
	}
	text := r.Text()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	starting := func(prefix string) (n int) {
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 1, starting("── diagnosis"), "one report header:\n%s", text)
	assert.Equal(t, 1, starting("⑤  remedy:"))
	assert.Equal(t, 1, starting("④"))
	for _, bad := range []string{"\x1b", "\r", "\u202e", "\x07", "\u009b"} {
		assert.NotContains(t, text, bad)
	}
	assert.Contains(t, text, `order\r\n⑤  remedy:   rm -rf /`, "escaped, still readable")
	assert.Contains(t, text, `\x1b[31mred`)
	// The report's own structure: header, why, ①, ②, evidence, ③ + one, ④, ⑤.
	assert.Len(t, lines, 9)
	assert.Equal(t, "order\r\n⑤  remedy:   rm -rf /", r.SlowHop.Service, "the report itself is not changed")
}
