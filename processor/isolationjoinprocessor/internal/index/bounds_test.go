package index

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/kevent"
)

// Issue 14 row 10: the index is bounded in bytes too: 200 events with
// 1 MiB cgroup paths stay under max bytes.
func TestBoundedInBytes(t *testing.T) {
	x := New(1000, int64(30*time.Second))
	x.SetMaxBytes(8 << 20)
	path := "/" + strings.Repeat("a", 1<<20)
	evicted := 0
	for i := range 200 {
		e := &kevent.Event{Time: int64(i + 1), Name: contract.EventCgroupThrottle, Host: "n", CgroupPath: path + strconv.Itoa(i)}
		evicted += x.Add(e)
	}
	assert.LessOrEqual(t, x.Bytes(), int64(8<<20))
	assert.Less(t, x.Len(), 8)
	assert.Equal(t, 200-x.Len(), evicted, "every removal for the byte bound is an eviction")
}

// Issue 14 row 10: the hosts map stays within max_events however many
// nodes send.
func TestHostsBounded(t *testing.T) {
	x := New(1000, int64(30*time.Second))
	for i := range 500_000 {
		x.Observe("node-"+strconv.Itoa(i), int64(time.Second))
	}
	assert.LessOrEqual(t, x.Hosts(), 1000)
}
