package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ViewTrace is what a person checks on the crosshair view's page of a
// trace: which span is highlighted as the slow hop, which lane is the
// verdict's, and which kernel events each lane draws.
type ViewTrace struct {
	SlowSpanID string
	SlowHop    string // the "slow hop" line beside the picture
	Verdict    string // the outlined lane's layer
	// Marks per lane: layer → event name → count, each keyed by the span
	// they were joined onto (all spans when SpanID is "").
	Lanes map[string]map[string]int
	// Marks on the slow hop's own span, per lane.
	HopLanes map[string]map[string]int
}

var (
	reSlow    = regexp.MustCompile(`<g class="span slow[^"]*" data-span-id="([0-9a-f]+)"`)
	reVerdict = regexp.MustCompile(`<g class="lane verdict" id="lane-([A-Za-z0-9]+)"`)
	reLane    = regexp.MustCompile(`<g class="lane[^"]*" id="lane-([A-Za-z0-9]+)"`)
	reMark    = regexp.MustCompile(`<g class="ev [^"]*" data-kind="([a-z._]+)" data-span-id="([0-9a-f]+)"`)
	reHopLine = regexp.MustCompile(`(?s)<dd id="slow-hop">(.*?)</dd>`)
)

// ParseView reads the rendered DOM of a trace page.
func ParseView(dom string) (*ViewTrace, error) {
	v := &ViewTrace{Lanes: map[string]map[string]int{}, HopLanes: map[string]map[string]int{}}
	m := reSlow.FindStringSubmatch(dom)
	if m == nil {
		return nil, fmt.Errorf("no span is highlighted as the slow hop")
	}
	v.SlowSpanID = m[1]
	if m := reHopLine.FindStringSubmatch(dom); m != nil {
		v.SlowHop = strings.TrimSpace(m[1])
	}
	if m := reVerdict.FindStringSubmatch(dom); m != nil {
		v.Verdict = m[1]
	}
	lanes := reLane.FindAllStringSubmatchIndex(dom, -1)
	if len(lanes) == 0 {
		return nil, fmt.Errorf("the page has no layer lanes")
	}
	for i, l := range lanes {
		layer := dom[l[2]:l[3]]
		end := len(dom)
		if i+1 < len(lanes) {
			end = lanes[i+1][0]
		}
		v.Lanes[layer] = map[string]int{}
		v.HopLanes[layer] = map[string]int{}
		for _, mk := range reMark.FindAllStringSubmatch(dom[l[0]:end], -1) {
			v.Lanes[layer][mk[1]]++
			if mk[2] == v.SlowSpanID {
				v.HopLanes[layer][mk[1]]++
			}
		}
	}
	return v, nil
}

// CheckView loads the view's page of traceID in Chromium, writes its
// screenshot to png (when not ""), and checks what a person would: the
// slow hop highlighted is hopSpanID (when not ""), the verdict's lane is
// layer, and that lane draws at least one of the kinds of kernel events
// (any kernel event when kinds is empty) joined onto the slow hop.
func CheckView(ctx context.Context, c *Chromium, base, traceID, hopSpanID, layer string, kinds []string, png string) (*ViewTrace, error) {
	url := strings.TrimSuffix(base, "/") + "/trace/" + traceID
	dom, err := c.DOM(ctx, url)
	if err != nil {
		return nil, err
	}
	v, err := ParseView(dom)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if png != "" {
		if err := c.Screenshot(ctx, url, png, 1640, 1000); err != nil {
			return v, err
		}
	}
	var problems []string
	if hopSpanID != "" && v.SlowSpanID != hopSpanID {
		problems = append(problems, fmt.Sprintf("slow hop highlighted is span %s, want %s", v.SlowSpanID, hopSpanID))
	}
	if v.Verdict != layer {
		problems = append(problems, fmt.Sprintf("verdict lane is %q, want %q", v.Verdict, layer))
	}
	found := 0
	for kind, n := range v.HopLanes[layer] {
		if len(kinds) == 0 || containsPrefix(kinds, kind) {
			found += n
		}
	}
	if found == 0 {
		problems = append(problems, fmt.Sprintf("lane %s has no %s mark of the slow hop (lanes: %v)", layer, strings.Join(kinds, "/"), v.HopLanes))
	}
	if len(problems) > 0 {
		return v, fmt.Errorf("%s: %s", url, strings.Join(problems, "; "))
	}
	return v, nil
}

func containsPrefix(kinds []string, kind string) bool {
	for _, k := range kinds {
		if strings.HasPrefix(kind, k) {
			return true
		}
	}
	return false
}

// LaneSummary is one line per lane with marks, for logs.
func (v *ViewTrace) LaneSummary() string {
	var parts []string
	for _, layer := range []string{"L4", "L3", "L2", "L1", "L0", "network", "app"} {
		n := 0
		for _, c := range v.Lanes[layer] {
			n += c
		}
		if n > 0 {
			parts = append(parts, layer+"="+strconv.Itoa(n))
		}
	}
	return strings.Join(parts, " ")
}
