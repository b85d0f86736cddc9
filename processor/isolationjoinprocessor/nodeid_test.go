package isolationjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/nodeid"
)

// stealOf is node-wide evidence (CPU steal, no process) as the ebpf
// receiver of node agent emits it: its resource stamped by nodeid, as the
// receiver stamps every batch.
func stealOf(agent nodeid.Local) plog.Logs {
	ld := eventLogs(kernelEvent{name: contract.EventCPUSteal, at: 100 * time.Millisecond, attrs: kv{
		contract.AttrCPUStealNs: int64(60 * time.Millisecond), contract.AttrIsolationLayer: contract.LayerL1,
	}})
	agent.Stamp(ld.ResourceLogs().At(0).Resource().Attributes())
	return ld
}

// TestNodeIdentityOnKubernetes: in a pod, os.Hostname() is the pod's name;
// the node is k8s.node.name — K8S_NODE_NAME (downward API) on the collector's
// side, k8s_attributes' k8s.node.name on the spans'.
func TestNodeIdentityOnKubernetes(t *testing.T) {
	agentN := nodeid.Local{Name: "node-n", K8sNodeName: "node-n", HostName: "crosshair-node-agent-7xk2p"}
	agentM := nodeid.Local{Name: "node-m", K8sNodeName: "node-m", HostName: "crosshair-node-agent-q9z4d"}
	// A pod on node N as k8s_attributes leaves it: pod metadata and the node
	// name; a Java-agent-like SDK also put the pod's own host name.
	podOnN := testSpan{kind: ptrace.SpanKindServer, resource: kv{
		"service.name": "payment", "k8s.pod.uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "k8s.pod.name": "payment-5d8c7",
		"k8s.node.name": "node-n", "host.name": "payment-5d8c7",
	}}
	tests := []struct {
		name      string
		collector string // K8S_NODE_NAME of the collector running the join
		events    plog.Logs
		want      map[string]any
	}{
		{"node agent on N, evidence of N", "node-n", stealOf(agentN), map[string]any{attrJoin: "node", contract.AttrIsolationLayer: "L1"}},
		{"node agent on N, evidence of M", "node-n", stealOf(agentM), map[string]any{attrJoin: "unmatched", contract.AttrIsolationLayer: nil}},
		{"gateway, evidence of N", "gateway-node", stealOf(agentN), map[string]any{attrJoin: "node", contract.AttrIsolationLayer: "L1"}},
		{"gateway, evidence of M", "gateway-node", stealOf(agentM), map[string]any{attrJoin: "unmatched", contract.AttrIsolationLayer: nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(nodeid.EnvVar, tt.collector)
			p, _, _ := newTestProcessor(t, createDefaultConfig())
			require.Equal(t, tt.collector, p.hostname, "the join's own node is K8S_NODE_NAME")
			_, err := p.processLogs(context.Background(), tt.events)
			require.NoError(t, err)
			td, err := p.processTraces(context.Background(), spanTraces(podOnN))
			require.NoError(t, err)
			spans := allSpans(td)
			require.Len(t, spans, 1)
			for k, v := range tt.want {
				assert.Equal(t, v, attr(spans[0], k), "attribute %s", k)
			}
		})
	}
}

// TestNodeIdentityWithoutKubernetes: with K8S_NODE_NAME unset the host name
// names the node, and a span that names no node is this node's.
func TestNodeIdentityWithoutKubernetes(t *testing.T) {
	t.Setenv(nodeid.EnvVar, "")
	local := nodeid.FromEnv()
	require.Empty(t, local.K8sNodeName)
	p, _, _ := newTestProcessor(t, createDefaultConfig())
	assert.Equal(t, hostname(t), p.hostname)
	_, err := p.processLogs(context.Background(), stealOf(local))
	require.NoError(t, err)
	td, err := p.processTraces(context.Background(), spanTraces(testSpan{kind: ptrace.SpanKindInternal, resource: kv{"process.pid": pid}}))
	require.NoError(t, err)
	assert.Equal(t, "node", attr(allSpans(td)[0], attrJoin))
}
