package placement

import (
	"sync"
	"time"
)

// Resolver caches per-process detection: spans of one process arrive in
// bursts, and /proc reads cost more than the join itself. Entries expire
// so a reused pid is detected again.
type Resolver struct {
	fs   FS
	node Stack
	ttl  time.Duration
	max  int
	now  func() time.Time

	mu    sync.Mutex
	cache map[int64]entry
}

type entry struct {
	p   Process
	ok  bool
	exp time.Time
}

// NewResolver returns a resolver over fs for a node with stack node.
func NewResolver(fs FS, node Stack, ttl time.Duration, maxEntries int, now func() time.Time) *Resolver {
	return &Resolver{fs: fs, node: node, ttl: ttl, max: maxEntries, now: now, cache: map[int64]entry{}}
}

// Node is the node's own stack.
func (r *Resolver) Node() Stack { return r.node }

// Process returns the placement of a local pid; ok is false when the
// process is not (or no longer) on this node.
func (r *Resolver) Process(pid int64) (Process, bool) {
	now := r.now()
	r.mu.Lock()
	e, hit := r.cache[pid]
	r.mu.Unlock()
	if hit && now.Before(e.exp) {
		return e.p, e.ok
	}
	p, err := r.fs.Process(pid, r.node)
	e = entry{p: p, ok: err == nil, exp: now.Add(r.ttl)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= r.max {
		// Drop expired entries; if none expired, start over rather than
		// grow: the cache is an optimisation, not a record.
		for k, v := range r.cache {
			if !now.Before(v.exp) {
				delete(r.cache, k)
			}
		}
		if len(r.cache) >= r.max {
			clear(r.cache)
		}
	}
	r.cache[pid] = e
	return e.p, e.ok
}
