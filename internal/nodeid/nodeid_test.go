package nodeid

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestFromEnv(t *testing.T) {
	host, err := os.Hostname()
	assert.NoError(t, err)

	t.Setenv(EnvVar, "")
	l := FromEnv()
	assert.Equal(t, Local{Name: host, HostName: host}, l, "outside Kubernetes the host name names the node")

	t.Setenv(EnvVar, "node-a")
	l = FromEnv()
	assert.Equal(t, Local{Name: "node-a", K8sNodeName: "node-a", HostName: host}, l)
	res := pcommon.NewMap()
	l.Stamp(res)
	assert.Equal(t, map[string]any{"k8s.node.name": "node-a", "host.name": host}, res.AsRaw())
	assert.Equal(t, "node-a", Of(res), "k8s.node.name wins over the pod's host name")
}

func TestOf(t *testing.T) {
	for _, tt := range []struct {
		res  map[string]any
		want string
	}{
		{map[string]any{}, ""},
		{map[string]any{"host.name": "vm-1"}, "vm-1"},
		{map[string]any{"k8s.node.name": "node-a", "host.name": "crosshair-x7k2p"}, "node-a"},
		{map[string]any{"k8s.node.name": "", "host.name": "vm-1"}, "vm-1"},
		{map[string]any{"k8s.node.name": int64(3)}, ""},
	} {
		res := pcommon.NewMap()
		assert.NoError(t, res.FromRaw(tt.res))
		assert.Equal(t, tt.want, Of(res), "%v", tt.res)
	}
}
