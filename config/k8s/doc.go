// Package k8s holds Crosshair's Kubernetes manifests (operator/, daemonset/,
// gateway/) and the tests that prove them without a cluster: strict decoding
// into the real API types, policy checks, and `otelcol-crosshair validate` on
// the collector configs they carry.
//
// It is a module of its own: the operator's API module requires newer
// k8s.io modules than the distribution's k8s_attributes processor, and the
// root module's requirements flow into the ocb build through its replace
// directive. `make unit` runs these tests too.
package k8s
