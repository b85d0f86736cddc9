package isolationjoinprocessor

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

// spanKeys are every attribute the join reads from spans and resources.
var spanKeys = []string{
	"network.peer.address", "network.peer.port", "net.sock.peer.addr", "net.sock.peer.port",
	"net.peer.ip", "net.peer.port", "server.address", "server.port", "client.address", "client.port",
	"network.local.address", "network.local.port", "net.sock.host.addr", "net.sock.host.port",
	"net.host.ip", "net.host.port", "process.pid", "container.id", "k8s.pod.uid", "host.name",
}

var eventKeys = []string{
	contract.AttrEventName, contract.AttrNetworkLocalAddress, contract.AttrNetworkLocalPort, contract.AttrNetworkPeerAddress,
	contract.AttrNetworkPeerPort, contract.AttrNetnsInode, contract.AttrProcessPID, contract.AttrContainerID, contract.AttrCgroupPath,
	contract.AttrTCPSrttUs, contract.AttrTCPRetransmits, contract.AttrSKBDropReason, contract.AttrSchedDelayNs,
	contract.AttrCgroupThrottledNs, contract.AttrCgroupThrottledPeriods, contract.AttrCPUStealNs, contract.AttrBlockLatencyNs,
	contract.AttrSyscallLatencyNs, contract.AttrSyscallPhase, contract.AttrSeccompMode, contract.AttrIsolationLayer,
	contract.AttrIntervalStart, contract.AttrIntervalNs, contract.AttrLogDevice,
}

var eventNames = []string{
	contract.EventTCPRetransmit, contract.EventTCPConnection, contract.EventTCPReset, contract.EventSKBDrop,
	contract.EventNetTxTimeout, contract.EventSchedDelay, contract.EventCgroupThrottle, contract.EventBlockIO,
	contract.EventSyscallSlow, contract.EventOOMKill, contract.EventCPUSteal, contract.EventKernelLog, "kernel.", "not.kernel",
}

// putFuzz sets key to a value of the type sel picks, built from s, n and f.
func putFuzz(m pcommon.Map, key string, sel uint8, s string, n int64, f float64) {
	switch sel % 7 {
	case 0:
		m.PutStr(key, s)
	case 1:
		m.PutInt(key, n)
	case 2:
		m.PutDouble(key, f)
	case 3:
		m.PutBool(key, n%2 == 0)
	case 4:
		m.PutEmptyBytes(key).FromRaw([]byte(s))
	case 5:
		m.PutEmptySlice(key).AppendEmpty().SetStr(s)
	case 6:
		m.PutEmptyMap(key).PutInt(s, n)
	}
}

// fuzzProcessor is a holding processor whose downstream refuses its first
// sel%4 calls (retried), or, for sel%8 ≥ 4, refuses them for good (dropped
// and counted). finish releases everything and returns the spans that
// left plus those counted as dropped, after checking the bounds.
func fuzzProcessor(t *testing.T, sel uint8) (*joinProcessor, func() int) {
	cfg := createDefaultConfig()
	cfg.MaxPendingSpans = 3 // exercise the bound
	cfg.MaxEvents = 64
	cfg.MaxEventsBytes = 16 << 10
	var err error = errors.New("exporter busy")
	if sel%8 >= 4 {
		err = consumererror.NewPermanent(errors.New("bad data"))
	}
	sink := &flakySink{failures: int(sel % 4), err: err}
	p, tt, clock := newTelemetryProcessor(t, cfg, sink)
	hold(p)
	return p, func() int {
		p.mu.Lock()
		// Memory bounded by configuration, in events, bytes and nodes.
		require.LessOrEqual(t, p.idx.Len(), cfg.MaxEvents)
		require.LessOrEqual(t, p.idx.Bytes(), cfg.MaxEventsBytes)
		require.LessOrEqual(t, p.idx.Hosts(), cfg.MaxEvents)
		require.LessOrEqual(t, p.pendingSpans, cfg.MaxPendingSpans)
		p.mu.Unlock()
		// Time bounded: max_delay later nothing is held, whatever the
		// timestamps, intervals and clocks of the input.
		clock.Advance(cfg.MaxDelay)
		p.sweep()
		p.mu.Lock()
		require.Zero(t, p.pendingSpans, "spans held past max_delay")
		p.mu.Unlock()
		require.NoError(t, p.Shutdown(context.Background()))
		dropped := int64(0)
		if m, err := tt.GetMetric("otelcol_processor_isolation_join_spans_dropped"); err == nil {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				dropped += dp.Value
			}
		}
		return sink.SpanCount() + int(dropped)
	}
}

func FuzzConsumeTraces(f *testing.F) {
	f.Add(uint8(0), "198.18.64.2", int64(8080), 0.0, int64(0), int64(1e8), uint8(2), uint32(0xffffffff))
	f.Add(uint8(1), "::ffff:198.18.64.2", int64(-1), math.NaN(), int64(-5), int64(math.MaxInt64), uint8(3), uint32(0x5555))
	f.Add(uint8(2), "db.example", int64(70000), math.Inf(1), int64(math.MaxInt64), int64(0), uint8(0), uint32(0x1234))
	f.Add(uint8(3), "[2001:db8::1%eth0]", int64(1<<40), 1e300, int64(1), int64(-1), uint8(5), uint32(0xabcdef))
	f.Fuzz(func(t *testing.T, sel uint8, s string, n int64, fl float64, start, end int64, kind uint8, mask uint32) {
		p, finish := fuzzProcessor(t, sel)
		// Kernel events from this node and from the node the fuzzer names,
		// at fuzzed times (ahead of the clock too), one summing a fuzzed
		// interval.
		_, err := p.processLogs(context.Background(), eventLogs(
			retransmit(50*time.Millisecond, cliIP, cliPort, srvIP, srvPort, nil),
			kernelEvent{name: contract.EventCgroupThrottle, at: time.Duration(start), host: s, attrs: kv{
				contract.AttrProcessPID: pid, contract.AttrCgroupThrottledNs: 5,
				contract.AttrIntervalStart: t0.UnixNano(), contract.AttrIntervalNs: n,
			}},
			kernelEvent{name: contract.EventCPUSteal, at: time.Duration(end), attrs: kv{contract.AttrCPUStealNs: 1}},
		))
		require.NoError(t, err)
		in, returned := 0, 0
		for batch := range 3 {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetKind(ptrace.SpanKind(kind % 6))
			sp.SetStartTimestamp(pcommon.Timestamp(uint64(t0.UnixNano()) + uint64(start)*uint64(batch+1)))
			sp.SetEndTimestamp(pcommon.Timestamp(uint64(t0.UnixNano()) + uint64(end)))
			for i, key := range spanKeys {
				if mask&(1<<i) == 0 {
					continue
				}
				target := sp.Attributes()
				if key == "process.pid" || key == "container.id" || key == "k8s.pod.uid" || key == "host.name" {
					target = rs.Resource().Attributes()
				}
				putFuzz(target, key, sel+uint8(i)+uint8(batch), s, n, fl)
			}
			in += td.SpanCount()
			out, err := p.processTraces(context.Background(), td)
			if err != nil {
				require.ErrorContains(t, err, "sentinel")
			} else {
				returned += out.SpanCount()
			}
		}
		require.Equal(t, in, returned+finish(), "no span lost")
	})
}

func FuzzConsumeLogs(f *testing.F) {
	f.Add(uint8(0), "198.18.64.1", int64(40000), 1.5, int64(50e6), uint32(0xffffffff), uint8(0))
	f.Add(uint8(1), "L3", int64(-1), math.NaN(), int64(-1), uint32(0x0f0f0f), uint8(5))
	f.Add(uint8(2), "entry", int64(math.MaxInt64), math.Inf(-1), int64(math.MaxInt64), uint32(0x1), uint8(8))
	f.Add(uint8(3), "/kubepods/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/"+hex64, int64(2), 0.0, int64(0), uint32(0xfff000), uint8(10))
	f.Fuzz(func(t *testing.T, sel uint8, s string, n int64, fl float64, at int64, mask uint32, name uint8) {
		p, finish := fuzzProcessor(t, sel)
		ld := eventLogs(kernelEvent{name: eventNames[int(name)%len(eventNames)], at: time.Duration(at), host: s})
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		// A mixed batch: application records around the kernel event.
		others := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for range int(mask % 64) {
			o := others.AppendEmpty()
			o.SetTimestamp(pcommon.Timestamp(uint64(at)))
			o.Body().SetStr(s)
		}
		for i, key := range eventKeys {
			if mask&(1<<i) != 0 {
				putFuzz(lr.Attributes(), key, sel+uint8(i), s, n, fl)
			}
		}
		if sel%5 == 0 {
			lr.SetTimestamp(pcommon.Timestamp(uint64(at))) // any time, including 0 and far future
		}
		records := ld.LogRecordCount()
		out, err := p.processLogs(context.Background(), ld)
		require.NoError(t, err)
		require.Equal(t, records, out.LogRecordCount())

		in, returned := 0, 0
		for _, s := range []testSpan{
			clientSpan(cliIP, cliPort, srvIP, srvPort),
			{kind: ptrace.SpanKindServer, resource: kv{"process.pid": pid}, attrs: kv{"client.address": cliIP, "client.port": cliPort}},
			{kind: ptrace.SpanKindInternal, resource: kv{"container.id": s}},
			{kind: ptrace.SpanKindInternal, resource: kv{"k8s.pod.uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}},
		} {
			td := spanTraces(s)
			in += td.SpanCount()
			out, err := p.processTraces(context.Background(), td)
			if err != nil {
				require.ErrorContains(t, err, "sentinel")
			} else {
				returned += out.SpanCount()
			}
		}
		require.Equal(t, in, returned+finish(), "no span lost")
	})
}
