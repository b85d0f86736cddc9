// Package nodeid names the node a kernel event or a span belongs to, the same
// way on the receiver's and the processor's side.
//
// On Kubernetes a node is named by k8s.node.name: the collector learns its own
// from the downward API (spec.nodeName in K8S_NODE_NAME, the variable
// k8s_attributes' node_from_env_var and resourcedetection's k8snode detector
// read), and spans get theirs from k8s_attributes. os.Hostname() there is the
// collector pod's name, which no span carries. Elsewhere the host name names
// the node.
package nodeid // import "github.com/crosshair-otel/crosshair/internal/nodeid"

import (
	"os"

	"go.opentelemetry.io/collector/pdata/pcommon"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

const (
	// EnvVar holds the Kubernetes node name (downward API spec.nodeName).
	EnvVar = "K8S_NODE_NAME"
	// AttrK8sNodeName is the semantic-convention resource attribute of a
	// Kubernetes node's name.
	AttrK8sNodeName = string(semconv.K8SNodeNameKey)
	// AttrHostName is the semantic-convention resource attribute of a host's name.
	AttrHostName = string(semconv.HostNameKey)
)

// Local is this collector's node.
type Local struct {
	// Name is the node's key: the Kubernetes node name when K8S_NODE_NAME is
	// set, else the host name.
	Name string
	// K8sNodeName is K8S_NODE_NAME ("" outside Kubernetes).
	K8sNodeName string
	// HostName is os.Hostname() ("" when it failed).
	HostName string
}

// FromEnv reads the local node's names.
func FromEnv() Local {
	var l Local
	l.K8sNodeName = os.Getenv(EnvVar)
	if h, err := os.Hostname(); err == nil {
		l.HostName = h
	}
	l.Name = l.K8sNodeName
	if l.Name == "" {
		l.Name = l.HostName
	}
	return l
}

// Stamp names the local node on a resource: host.name, and k8s.node.name on
// Kubernetes.
func (l Local) Stamp(res pcommon.Map) {
	if l.HostName != "" {
		res.PutStr(AttrHostName, l.HostName)
	}
	if l.K8sNodeName != "" {
		res.PutStr(AttrK8sNodeName, l.K8sNodeName)
	}
}

// Of is the node key of a resource: k8s.node.name when set, else host.name,
// else "" (the resource does not say: the caller's own node).
func Of(res pcommon.Map) string {
	for _, k := range [...]string{AttrK8sNodeName, AttrHostName} {
		if v, ok := res.Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return v.Str()
		}
	}
	return ""
}
