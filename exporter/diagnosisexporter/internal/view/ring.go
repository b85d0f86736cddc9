package view

import (
	"sort"
	"sync"
)

// Ring keeps the last N diagnosed traces; the oldest is forgotten when a
// new one arrives at capacity, so the view's memory is bounded by N times
// the exporter's max_spans_per_trace.
type Ring struct {
	mu    sync.RWMutex
	buf   []*Trace // circular; next is the slot written next
	next  int
	count int
}

// NewRing returns a ring holding up to n traces (n ≥ 1).
func NewRing(n int) *Ring {
	if n < 1 {
		n = 1
	}
	return &Ring{buf: make([]*Trace, n)}
}

// Add stores t, replacing the oldest trace when the ring is full. A trace
// diagnosed again (its late spans arrived after the first report) replaces
// its earlier entry.
func (r *Ring) Add(t *Trace) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i < r.count; i++ {
		j := (r.next - 1 - i + 2*len(r.buf)) % len(r.buf)
		if r.buf[j].ID == t.ID {
			r.buf[j] = t
			return
		}
	}
	r.buf[r.next] = t
	r.next = (r.next + 1) % len(r.buf)
	if r.count < len(r.buf) {
		r.count++
	}
}

// Filter selects traces on the list page; empty fields match all.
type Filter struct {
	Service string
	Layer   string
}

func (f Filter) match(t *Trace) bool {
	if f.Layer != "" && !t.HasLayer(f.Layer) {
		return false
	}
	if f.Service == "" {
		return true
	}
	for i := range t.Spans {
		if t.Spans[i].Service == f.Service {
			return true
		}
	}
	return false
}

// List returns the traces that match f, newest first.
func (r *Ring) List(f Filter) []*Trace {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Trace, 0, r.count)
	for i := 0; i < r.count; i++ {
		t := r.buf[(r.next-1-i+2*len(r.buf))%len(r.buf)]
		if f.match(t) {
			out = append(out, t)
		}
	}
	return out
}

// Get returns the trace with the hex id, or nil.
func (r *Ring) Get(id string) *Trace {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i := 0; i < r.count; i++ {
		if t := r.buf[i]; t.ID == id {
			return t
		}
	}
	return nil
}

// Services lists every service of the traces held, sorted: the choices of
// the list page's service filter.
func (r *Ring) Services() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := map[string]bool{}
	var out []string
	for i := 0; i < r.count; i++ {
		for _, s := range r.buf[i].Services() {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sortStrings(out)
	return out
}

// Len is the number of traces held.
func (r *Ring) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count
}

func sortStrings(s []string) { sort.Strings(s) }
