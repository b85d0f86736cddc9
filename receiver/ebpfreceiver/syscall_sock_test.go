package ebpfreceiver

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// A read blocked on a TCP socket until the peer answers (80ms later) is a
// slow read body that names its socket — both ends and the network
// namespace — so the join ties it to that connection's span rather than
// to every span of the process. The record is stamped when the wait ended:
// no later than the read returned as the caller saw it, and its duration
// starts no earlier than the call.
func TestSocketWaitNamesItsSocket(t *testing.T) {
	testenv.RequireRoot(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	const answerAfter = 80 * time.Millisecond
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		time.Sleep(answerAfter)
		_, _ = c.Write([]byte("x"))
		_, _ = c.Read(make([]byte, 1)) // until the client closes
	}()
	sink := new(consumertest.LogsSink)
	startReceiver(t, hostConfig("syscall_slow"), sink, nil)

	var tid int
	var local, peer unix.Sockaddr
	var called, returned time.Time
	done := make(chan error, 1)
	go func() {
		// One thread does the blocking read (a raw fd, not the netpoller).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid = unix.Gettid()
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(fd)
		port := ln.Addr().(*net.TCPAddr).Port
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			done <- err
			return
		}
		local, _ = unix.Getsockname(fd)
		peer, _ = unix.Getpeername(fd)
		called = time.Now()
		_, err = unix.Read(fd, make([]byte, 1))
		returned = time.Now()
		done <- err
	}()
	require.NoError(t, <-done)

	var rec plog.LogRecord
	require.Eventually(t, func() bool {
		recs := recordsWhere(sink, contract.EventSyscallSlow, func(lr plog.LogRecord) bool {
			a := lr.Attributes()
			return integer(a, contract.AttrThreadID) == int64(tid) && str(a, contract.AttrSyscallName) == "read"
		})
		if len(recs) > 0 {
			rec = recs[0]
		}
		return len(recs) > 0
	}, 5*time.Second, 50*time.Millisecond, "kernel.syscall.slow read for thread %d", tid)
	a := rec.Attributes()
	lat := time.Duration(integer(a, contract.AttrSyscallLatencyNs))
	assert.GreaterOrEqual(t, lat, answerAfter-10*time.Millisecond)
	end := rec.Timestamp().AsTime()
	assert.False(t, end.After(returned), "the wait ended (%v) after the read returned (%v)", end, returned)
	assert.False(t, end.Add(-lat).Before(called.Add(-time.Millisecond)), "the wait began (%v) before the read was called (%v)", end.Add(-lat), called)

	l, p := local.(*unix.SockaddrInet4), peer.(*unix.SockaddrInet4)
	require.NotNil(t, l)
	require.NotNil(t, p)
	assert.Equal(t, "127.0.0.1", str(a, contract.AttrNetworkLocalAddress))
	assert.Equal(t, int64(l.Port), integer(a, contract.AttrNetworkLocalPort))
	assert.Equal(t, "127.0.0.1", str(a, contract.AttrNetworkPeerAddress))
	assert.Equal(t, int64(p.Port), integer(a, contract.AttrNetworkPeerPort))
	assert.Equal(t, "tcp", str(a, contract.AttrNetworkTransport))
	var st unix.Stat_t
	require.NoError(t, unix.Stat("/proc/self/ns/net", &st))
	assert.Equal(t, int64(st.Ino), integer(a, contract.AttrNetnsInode), "the socket's network namespace")
}
