// Package sharedcomponent lets one component instance serve several
// pipelines (the isolation_join processor takes kernel events in a logs
// pipeline and spans in a traces pipeline; the ebpf receiver feeds logs and
// metrics from one set of BPF programs). The collector's own helper lives
// under internal/ in core and contrib and cannot be imported, so this is a
// small copy of its idea: one instance per component ID, started once,
// shut down once, forgotten after shutdown so a restarted pipeline gets a
// fresh one.
package sharedcomponent

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map holds the shared instances of one factory, keyed by component ID (or
// by config pointer, as the collector's helper does).
type Map[K comparable, V component.Component] struct {
	mu         sync.Mutex
	components map[K]*Component[V]
}

// NewMap returns an empty Map. A factory owns one.
func NewMap[K comparable, V component.Component]() *Map[K, V] {
	return &Map[K, V]{components: map[K]*Component[V]{}}
}

// LoadOrStore returns the instance for key, creating it with create on first use.
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Component[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.components[key]; ok {
		return c, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	c := &Component[V]{component: v}
	c.remove = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.components[key] == c {
			delete(m.components, key)
		}
	}
	m.components[key] = c
	return c, nil
}

// Len reports how many instances are live (for tests).
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.components)
}

// Component wraps a shared instance so that Start and Shutdown reach it
// once however many pipelines call them.
type Component[V component.Component] struct {
	component V
	remove    func()

	startOnce sync.Once
	startErr  error
	stopOnce  sync.Once
	stopErr   error
}

// Unwrap returns the shared instance.
func (c *Component[V]) Unwrap() V { return c.component }

// Start starts the instance the first time it is called.
func (c *Component[V]) Start(ctx context.Context, host component.Host) error {
	c.startOnce.Do(func() { c.startErr = c.component.Start(ctx, host) })
	return c.startErr
}

// Shutdown shuts the instance down the first time it is called and removes
// it from its Map.
func (c *Component[V]) Shutdown(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.stopErr = c.component.Shutdown(ctx)
		c.remove()
	})
	return c.stopErr
}
