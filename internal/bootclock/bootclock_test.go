package bootclock

import (
	"testing"
	"time"
)

func TestWallMatchesNow(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	got := c.Wall(Now())
	after := time.Now()
	if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
		t.Fatalf("Wall(Now()) = %v, want between %v and %v", got, before, after)
	}
}

func TestWallKeepsOrder(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Wall(1_000), c.Wall(2_000)
	if d := b.Sub(a); d != time.Microsecond {
		t.Fatalf("Wall(2000)-Wall(1000) = %v, want 1µs", d)
	}
}
