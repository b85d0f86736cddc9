package sharedcomponent

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

type counting struct {
	starts, stops int
	startErr      error
}

func (c *counting) Start(context.Context, component.Host) error { c.starts++; return c.startErr }
func (c *counting) Shutdown(context.Context) error              { c.stops++; return nil }

func TestOneInstancePerKey(t *testing.T) {
	m := NewMap[string, *counting]()
	created := 0
	create := func() (*counting, error) { created++; return &counting{}, nil }

	a, err := m.LoadOrStore("isolation_join", create)
	require.NoError(t, err)
	b, err := m.LoadOrStore("isolation_join", create)
	require.NoError(t, err)
	other, err := m.LoadOrStore("isolation_join/2", create)
	require.NoError(t, err)

	assert.Same(t, a.Unwrap(), b.Unwrap(), "same key, same instance")
	assert.NotSame(t, a.Unwrap(), other.Unwrap())
	assert.Equal(t, 2, created)

	host := componenttest.NewNopHost()
	require.NoError(t, a.Start(context.Background(), host))
	require.NoError(t, b.Start(context.Background(), host))
	require.NoError(t, a.Shutdown(context.Background()))
	require.NoError(t, b.Shutdown(context.Background()))
	assert.Equal(t, 1, a.Unwrap().starts)
	assert.Equal(t, 1, a.Unwrap().stops)
	assert.Equal(t, 1, m.Len(), "shut-down instance forgotten, the other kept")

	again, err := m.LoadOrStore("isolation_join", create)
	require.NoError(t, err)
	assert.NotSame(t, a.Unwrap(), again.Unwrap(), "a restarted pipeline gets a fresh instance")
}

func TestErrorsAreKept(t *testing.T) {
	m := NewMap[string, *counting]()
	_, err := m.LoadOrStore("x", func() (*counting, error) { return nil, errors.New("bad") })
	require.EqualError(t, err, "bad")
	assert.Equal(t, 0, m.Len())

	c, err := m.LoadOrStore("x", func() (*counting, error) { return &counting{startErr: errors.New("boom")}, nil })
	require.NoError(t, err)
	require.EqualError(t, c.Start(context.Background(), componenttest.NewNopHost()), "boom")
	require.EqualError(t, c.Start(context.Background(), componenttest.NewNopHost()), "boom", "second Start reports the first error")
	assert.Equal(t, 1, c.Unwrap().starts)
}
