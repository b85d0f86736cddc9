package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor/internal/metadata"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"
)

// TestKernelRetransmitsTagTheSpan runs the real ebpf receiver into the
// processor's logs side, makes a real TCP exchange lose segments between
// two namespaces, and checks that the client span built for that exchange
// is tagged with the retransmit evidence.
func TestKernelRetransmitsTagTheSpan(t *testing.T) {
	testenv.RequireRoot(t, "ip", "nft")
	tests := []struct {
		name, tag    string
		addrA, addrB string
	}{
		{name: "ipv4", tag: "4", addrA: "198.18.64.1/30", addrB: "198.18.64.2/30"},
		{name: "ipv6", tag: "6", addrA: "2001:db8:64::1/64", addrB: "2001:db8:64::2/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const port = 18464
			cli := testenv.NewNetns(t, "chx-j"+tt.tag+"-cli")
			srv := testenv.NewNetns(t, "chx-j"+tt.tag+"-srv")
			link := testenv.NewVethPair(t, cli, srv, "chx-j"+tt.tag+"a", "chx-j"+tt.tag+"b", tt.addrA, tt.addrB)
			testenv.DropInput(t, srv, port, 20)

			// One processor instance, two pipelines.
			// max_delay 500ms: no kernel event follows the exchange to move the watermark.
			tp, lp, traces := startJoinWith(t, processortest.NewNopSettings(metadata.Type), 500*time.Millisecond)

			rf := ebpfreceiver.NewFactory()
			rcfg := rf.CreateDefaultConfig().(*ebpfreceiver.Config)
			rcfg.Probes = []string{"tcp_retransmit"}
			rcfg.FlushInterval = 20 * time.Millisecond
			recv, err := rf.CreateLogs(context.Background(), receivertest.NewNopSettings(rf.Type()), rcfg, lp)
			require.NoError(t, err)
			if err := recv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
				testenv.SkipOrFail(t, "ebpf receiver: %v", err)
			}
			t.Cleanup(func() { _ = recv.Shutdown(context.Background()) })

			start := time.Now()
			local, remote := link.Transfer(t, port, 4<<20)
			end := time.Now()

			td := ptrace.NewTraces()
			sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetName("POST /upload")
			sp.SetKind(ptrace.SpanKindClient)
			sp.SetTraceID(pcommon.TraceID{0xc4})
			sp.SetSpanID(pcommon.SpanID{0x64})
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
			sp.Attributes().PutStr("network.local.address", local.Addr().String())
			sp.Attributes().PutInt("network.local.port", int64(local.Port()))
			sp.Attributes().PutStr("network.peer.address", remote.Addr().String())
			sp.Attributes().PutInt("network.peer.port", int64(remote.Port()))
			require.NoError(t, tp.ConsumeTraces(context.Background(), td))

			require.Eventually(t, func() bool { return traces.SpanCount() == 1 }, 30*time.Second, 10*time.Millisecond)
			got := sinkSpans(traces)[0]
			assert.Equal(t, "5tuple", attr(got, attrJoin))
			n, _ := attr(got, attrRetransmits).(int64)
			assert.Positive(t, n, "kernel.tcp.retransmits")
			assert.Equal(t, contract.LayerNetwork, attr(got, contract.AttrIsolationLayer), "no local drop event: loss beyond the node")
			assert.Contains(t, attr(got, attrCause), "tcp retransmit")
			require.Positive(t, got.Events().Len())
			assert.Equal(t, contract.EventTCPRetransmit, got.Events().At(0).Name())
			t.Logf("%s: %d retransmits; cause %q", tt.name, n, attr(got, attrCause))
		})
	}
}
