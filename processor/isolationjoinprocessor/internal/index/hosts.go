// Hosts: the watermark and polling rounds of each sending node, which holding waits on.
package index

import "time"

// hostState is what the index knows of one sending node.
type hostState struct {
	// watermark is the newest event time of the node: a held span of the
	// node waits for it, so a node whose clock runs ahead releases no
	// other node's spans.
	watermark int64
	// rounds holds, per event name, the node's latest round of records
	// summing an interval (cgroup throttling, steal: polled): such a
	// record lags the spans it explains by up to its interval. The latest
	// round, not the longest ever: one late poll must not hold every
	// later span for max_delay. Nil until the node sends one.
	rounds map[string]round
	// sent is the node's own watermark record (contract.EventWatermark):
	// every record of the node about anything up to it has arrived, the
	// late ones included. 0 until the node sends one.
	sent int64
}

// round is one poll's interval and the time its records are stamped with.
type round struct{ interval, at int64 }

// maxRounds bounds a node's rounds map (one entry per summing event name).
const maxRounds = 8

// Watermark is the newest event time ingested (unix ns), 0 before any.
func (x *Index) Watermark() int64 { return x.watermark }

// WatermarkOf is the newest event time of host, or the index's watermark
// when host has sent nothing within the retention (a node without a
// kernel agent has no watermark of its own).
func (x *Index) WatermarkOf(host string) int64 {
	if st, ok := x.hosts[host]; ok {
		return st.watermark
	}
	return x.watermark
}

// IntervalOf is the interval of host's latest round of records summing
// one (cgroup throttling), 0 when none arrived within the retention: such
// records are stamped at the interval's end, up to this long after the
// spans they explain.
func (x *Index) IntervalOf(host string) int64 {
	var iv int64
	for _, r := range x.hosts[host].rounds {
		if r.at >= x.watermark-x.retention {
			iv = max(iv, r.interval)
		}
	}
	return iv
}

// Sent records host's watermark record: every record of the node about
// anything up to t has arrived. It also says the node's kernel events
// are flowing (Observe). Reports whether host's watermark record moved.
func (x *Index) Sent(host string, t int64) bool {
	x.Observe(host, t)
	st, ok := x.hosts[host]
	if !ok || t <= st.sent {
		return false
	}
	st.sent = t
	x.hosts[host] = st
	return true
}

// SentOf is host's latest watermark record (Sent), 0 when it sent none
// within the retention.
func (x *Index) SentOf(host string) int64 { return x.hosts[host].sent }

// Covers reports whether kernel events of host have been seen within the
// retention: only then does an empty window mean "no kernel evidence" rather
// than "nobody was looking".
func (x *Index) Covers(host string) bool {
	st, ok := x.hosts[host]
	return ok && st.watermark >= x.watermark-x.retention
}

// Observe moves the watermark and host's coverage to t for a record that
// is not indexed (a connection's establishment, kept by the connection
// table): it still says the node's kernel events are flowing.
func (x *Index) Observe(host string, t int64) {
	if t > x.watermark {
		x.watermark = t
	}
	st, ok := x.hosts[host]
	if !ok && len(x.hosts) >= x.maxEvents {
		// A flood of host names (one per record) must not grow the map
		// without bound: forget silent nodes now; if none is, this node
		// goes without a watermark of its own (WatermarkOf falls back to
		// the index's). At most one sweep per second of event time, so a
		// flood costs no sweep per record.
		if x.watermark-x.hostSweep >= int64(time.Second) {
			x.sweepHosts()
		}
		if len(x.hosts) >= x.maxEvents {
			return
		}
	}
	if !ok || t > st.watermark {
		st.watermark = t
		x.hosts[host] = st
	}
}

// sweepHosts forgets the nodes silent for the retention.
func (x *Index) sweepHosts() {
	x.hostSweep = x.watermark
	limit := x.watermark - x.retention
	for h, st := range x.hosts {
		if st.watermark < limit {
			delete(x.hosts, h)
		}
	}
}
