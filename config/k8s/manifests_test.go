package k8s_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	otelv1beta1 "github.com/open-telemetry/opentelemetry-operator/apis/v1beta1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifestDirs are the directories users apply with kubectl.
var manifestDirs = []string{"operator", "daemonset", "gateway"}

// manifest is one YAML document of one file, decoded into its API type.
type manifest struct {
	file  string
	index int
	raw   []byte // the document's YAML
	json  []byte // the same as JSON (duplicate keys rejected)
	kind  string // "apiVersion/Kind"
	obj   any
}

func (m manifest) String() string { return fmt.Sprintf("%s#%d (%s)", m.file, m.index, m.kind) }

// newObject returns an empty value of the API type for apiVersion/kind, or
// nil for a kind these manifests are not expected to contain.
func newObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Service":
		return &corev1.Service{}
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		return &rbacv1.ClusterRole{}
	case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}
	case "opentelemetry.io/v1beta1/OpenTelemetryCollector":
		return &otelv1beta1.OpenTelemetryCollector{}
	}
	return nil
}

// decodeStrict decodes one YAML document the way the API server's strict
// field validation does: duplicate keys, unknown fields and fields whose
// case differs from the schema's are errors.
func decodeStrict(doc []byte) (obj any, kind string, jsonDoc []byte, err error) {
	jsonDoc, err = yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, "", nil, fmt.Errorf("yaml: %w", err)
	}
	var tm metav1.TypeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(jsonDoc, &tm); err != nil {
		return nil, "", nil, fmt.Errorf("type meta: %w", err)
	}
	kind = tm.APIVersion + "/" + tm.Kind
	obj = newObject(tm.APIVersion, tm.Kind)
	if obj == nil {
		return nil, kind, nil, fmt.Errorf("unexpected kind %q", kind)
	}
	strictErrs, err := kjson.UnmarshalStrict(jsonDoc, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, kind, nil, err
	}
	if len(strictErrs) > 0 {
		return nil, kind, nil, errors.Join(strictErrs...)
	}
	return obj, kind, jsonDoc, nil
}

// splitDocuments returns the non-empty YAML documents of a file.
func splitDocuments(data []byte) ([][]byte, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
		if v != nil { // only comments
			docs = append(docs, doc)
		}
	}
}

func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range manifestDirs {
		matches, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		require.NoError(t, err)
		require.NotEmpty(t, matches, "no manifests in %s/", dir)
		files = append(files, matches...)
	}
	return files
}

func loadManifests(t *testing.T) []manifest {
	t.Helper()
	var all []manifest
	for _, file := range manifestFiles(t) {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		docs, err := splitDocuments(data)
		require.NoError(t, err, file)
		require.NotEmpty(t, docs, "%s holds no object", file)
		for i, doc := range docs {
			obj, kind, j, err := decodeStrict(doc)
			require.NoError(t, err, "%s document %d", file, i)
			all = append(all, manifest{file: file, index: i, raw: doc, json: j, kind: kind, obj: obj})
		}
	}
	return all
}

func objectsOf[T any](ms []manifest) []T {
	var out []T
	for _, m := range ms {
		if o, ok := m.obj.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	ms := loadManifests(t)
	kinds := map[string]int{}
	for _, m := range ms {
		kinds[m.kind]++
		meta, err := objectMeta(m.obj)
		require.NoError(t, err)
		assert.NotEmpty(t, meta.Name, "%s has no name", m)
		switch m.obj.(type) {
		case *corev1.Namespace, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding:
			assert.Empty(t, meta.Namespace, "%s is cluster-scoped", m)
		default:
			assert.Equal(t, "crosshair", meta.Namespace, "%s", m)
		}
		assert.Equal(t, "crosshair", meta.Labels["app.kubernetes.io/part-of"], "%s", m)
	}
	for _, want := range []string{
		"v1/Namespace", "v1/ServiceAccount", "v1/ConfigMap", "v1/Service",
		"apps/v1/DaemonSet", "apps/v1/Deployment",
		"rbac.authorization.k8s.io/v1/ClusterRole", "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
		"opentelemetry.io/v1beta1/OpenTelemetryCollector",
	} {
		assert.NotZero(t, kinds[want], "no %s among the manifests", want)
	}
	t.Logf("%d objects in %d files decoded strictly: %v", len(ms), len(manifestFiles(t)), kinds)
}

func objectMeta(obj any) (metav1.ObjectMeta, error) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return o.ObjectMeta, nil
	case *corev1.ServiceAccount:
		return o.ObjectMeta, nil
	case *corev1.ConfigMap:
		return o.ObjectMeta, nil
	case *corev1.Service:
		return o.ObjectMeta, nil
	case *appsv1.DaemonSet:
		return o.ObjectMeta, nil
	case *appsv1.Deployment:
		return o.ObjectMeta, nil
	case *rbacv1.ClusterRole:
		return o.ObjectMeta, nil
	case *rbacv1.ClusterRoleBinding:
		return o.ObjectMeta, nil
	case *otelv1beta1.OpenTelemetryCollector:
		return o.ObjectMeta, nil
	}
	return metav1.ObjectMeta{}, fmt.Errorf("no metadata for %T", obj)
}

// TestStrictDecodingRejectsMisspelledFields proves the decoding above is
// strict: each real manifest, with one field misspelled, must fail.
func TestStrictDecodingRejectsMisspelledFields(t *testing.T) {
	tests := []struct {
		name, file, from, to, wantErr string
	}{
		{"typo in DaemonSet", "daemonset/30-daemonset.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true", `unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem"`},
		{"wrong case in DaemonSet", "daemonset/30-daemonset.yaml", "hostPID: true", "hostPid: true", `unknown field "spec.template.spec.hostPid"`},
		{"typo in operator CR", "operator/collector.yaml", "  capabilities:", "  capabilites:", `unknown field "spec.securityContext.capabilites"`},
		{"wrong case in operator CR", "operator/collector.yaml", "  hostPID: true", "  hostPid: true", `unknown field "spec.hostPid"`},
		{"typo in ClusterRole", "daemonset/10-rbac.yaml", "    verbs: [get, list, watch]\n  - apiGroups: [apps]", "    verb: [get, list, watch]\n  - apiGroups: [apps]", `unknown field "rules[0].verb"`},
		{"duplicate field in Service", "daemonset/40-gateway-service.yaml", "  type: ClusterIP\n", "  type: ClusterIP\n  type: NodePort\n", `key "type" already set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(tt.file)
			require.NoError(t, err)
			require.Equal(t, 1, strings.Count(string(data), tt.from), "%q must occur once in %s", tt.from, tt.file)
			docs, err := splitDocuments([]byte(strings.Replace(string(data), tt.from, tt.to, 1)))
			require.NoError(t, err)
			var errs []error
			for _, doc := range docs {
				if _, _, _, err := decodeStrict(doc); err != nil {
					errs = append(errs, err)
				}
			}
			require.Len(t, errs, 1, "exactly the edited document must be rejected")
			assert.ErrorContains(t, errs[0], tt.wantErr)
		})
	}
}

// ---- the collector configs the manifests carry ----

const binaryDefault = "../../_build/otelcol-crosshair"

func binaryPath() string {
	if b := os.Getenv("OTELCOL_CROSSHAIR"); b != "" {
		return b
	}
	return binaryDefault
}

// collectorConfig is one config carried by a manifest, with the container
// environment it runs in.
type collectorConfig struct {
	name  string
	yaml  []byte
	env   []corev1.EnvVar
	image string
}

func crosshairImage(image string) bool { return strings.Contains(image, "/otelcol-crosshair:") }

// carriedConfigs returns the operator CR's spec.config and every ConfigMap
// config mounted by a workload, each with its container's environment.
func carriedConfigs(t *testing.T, ms []manifest) []collectorConfig {
	t.Helper()
	configMaps := map[string]*corev1.ConfigMap{}
	for _, cm := range objectsOf[*corev1.ConfigMap](ms) {
		configMaps[cm.Name] = cm
	}
	var out []collectorConfig
	for _, m := range ms {
		if cr, ok := m.obj.(*otelv1beta1.OpenTelemetryCollector); ok {
			var raw struct {
				Spec struct {
					Config map[string]any `json:"config"`
				} `json:"spec"`
			}
			require.NoError(t, kjson.UnmarshalCaseSensitivePreserveInts(m.json, &raw))
			y, err := yaml.Marshal(raw.Spec.Config)
			require.NoError(t, err)
			out = append(out, collectorConfig{name: "OpenTelemetryCollector/" + cr.Name + " spec.config", yaml: y, env: cr.Spec.Env, image: cr.Spec.Image})
		}
	}
	for _, pod := range podsOf(ms) {
		for _, c := range pod.containers {
			for _, vm := range c.VolumeMounts {
				for _, v := range pod.volumes {
					if v.Name != vm.Name || v.ConfigMap == nil {
						continue
					}
					cm := configMaps[v.ConfigMap.Name]
					require.NotNil(t, cm, "%s mounts missing ConfigMap %s", pod.name, v.ConfigMap.Name)
					require.Contains(t, cm.Data, "config.yaml")
					// The container must read the file it mounts.
					assert.Contains(t, c.Args, "--config="+vm.MountPath+"/config.yaml", "%s", pod.name)
					out = append(out, collectorConfig{name: "ConfigMap/" + cm.Name + " (" + pod.name + ")", yaml: []byte(cm.Data["config.yaml"]), env: c.Env, image: c.Image})
				}
			}
		}
	}
	return out
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// sampleEnv gives every variable the container declares a sample value
// (the downward API's values are made up) and checks that every ${env:X}
// without a default in the config is declared.
func sampleEnv(t *testing.T, c collectorConfig) []string {
	t.Helper()
	declared := map[string]string{}
	for _, e := range c.env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName":
			declared[e.Name] = "node-1"
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
			declared[e.Name] = "10.244.1.7"
		case e.ValueFrom != nil:
			declared[e.Name] = "sample"
		default:
			declared[e.Name] = e.Value
		}
	}
	for _, ref := range envRef.FindAllStringSubmatch(string(c.yaml), -1) {
		if ref[2] == "" {
			assert.Contains(t, declared, ref[1], "%s uses ${env:%s} without a default and the container does not set it", c.name, ref[1])
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range declared {
		env = append(env, k+"="+v)
	}
	return env
}

// TestCarriedConfigsValidate runs `otelcol-crosshair validate` on every
// collector config a manifest carries for an otelcol-crosshair container.
func TestCarriedConfigsValidate(t *testing.T) {
	ms := loadManifests(t)
	configs := carriedConfigs(t, ms)
	var ours []collectorConfig
	for _, c := range configs {
		if crosshairImage(c.image) {
			ours = append(ours, c)
		}
	}
	// Operator CR, node-agent ConfigMap, gateway ConfigMap.
	require.Len(t, ours, 3, "collector configs carried for otelcol-crosshair")

	bin := binaryPath()
	if _, err := os.Stat(bin); err != nil {
		requireBinary(t, bin, err)
	}
	dir := t.TempDir()
	for i, c := range ours {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("config-%d.yaml", i))
			require.NoError(t, os.WriteFile(path, c.yaml, 0o600))
			out, err := runBinary(bin, sampleEnv(t, c), "validate", "--config", path)
			require.NoError(t, err, "otelcol-crosshair validate rejected %s:\n%s\n--- config ---\n%s", c.name, out, c.yaml)
		})
	}
	t.Logf("%d carried configs validated by %s", len(ours), bin)
}

// TestValidateCatchesABrokenCarriedConfig shows the validation above can
// fail: the CR's config with a misspelled processor setting is rejected.
func TestValidateCatchesABrokenCarriedConfig(t *testing.T) {
	bin := binaryPath()
	if _, err := os.Stat(bin); err != nil {
		requireBinary(t, bin, err)
	}
	ms := loadManifests(t)
	cfg := carriedConfigs(t, ms)[0]
	require.Contains(t, cfg.name, "OpenTelemetryCollector")
	broken := strings.Replace(string(cfg.yaml), "node_from_env_var:", "node_from_env_variable:", 1)
	require.NotEqual(t, string(cfg.yaml), broken)
	path := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(path, []byte(broken), 0o600))
	out, err := runBinary(bin, sampleEnv(t, cfg), "validate", "--config", path)
	require.Error(t, err, "validate accepted a misspelled k8s_attributes field")
	assert.Contains(t, out, "node_from_env_variable")
}

// TestCarriedConfigsAreTheShippedConfigs keeps the manifests and config/*.yaml
// from drifting: the ConfigMaps hold the files verbatim, and the operator's
// structured spec.config is the node agent config.
func TestCarriedConfigsAreTheShippedConfigs(t *testing.T) {
	ms := loadManifests(t)
	files := map[string]string{
		"crosshair-node-agent": "../node-agent.yaml",
		"crosshair-gateway":    "../gateway.yaml",
	}
	found := 0
	for _, cm := range objectsOf[*corev1.ConfigMap](ms) {
		file, ok := files[cm.Name]
		if !ok {
			continue
		}
		found++
		want, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Equal(t, string(want), cm.Data["config.yaml"], "ConfigMap %s differs from %s", cm.Name, file)
	}
	assert.Equal(t, len(files), found)

	want := parseYAML(t, mustRead(t, "../node-agent.yaml"))
	crs := 0
	for _, c := range carriedConfigs(t, ms) {
		if strings.HasPrefix(c.name, "OpenTelemetryCollector/") {
			crs++
			assert.Equal(t, want, parseYAML(t, c.yaml), "%s differs from config/node-agent.yaml", c.name)
		}
	}
	assert.Equal(t, 1, crs)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func parseYAML(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, yaml.Unmarshal(b, &v))
	return v
}

// TestOperatorCollector checks what the operator CR must say beyond its schema.
func TestOperatorCollector(t *testing.T) {
	crs := objectsOf[*otelv1beta1.OpenTelemetryCollector](loadManifests(t))
	require.Len(t, crs, 1)
	cr := crs[0]
	assert.Equal(t, otelv1beta1.ModeDaemonSet, cr.Spec.Mode)
	assert.True(t, cr.Spec.HostPID)
	assert.Equal(t, "crosshair-node-agent", cr.Spec.ServiceAccount, "the ServiceAccount of daemonset/10-rbac.yaml")
	cfg := cr.Spec.Config
	assert.Contains(t, cfg.Service.Extensions, "health_check", "the operator derives the probes from health_check")
	require.NotNil(t, cfg.Extensions)
	assert.Contains(t, cfg.Extensions.Object, "health_check")
	for _, r := range []string{"otlp", "ebpf"} {
		assert.Contains(t, cfg.Receivers.Object, r)
	}
	require.NotNil(t, cfg.Processors)
	for _, p := range []string{"memory_limiter", "k8s_attributes", "isolation_join", "batch"} {
		assert.Contains(t, cfg.Processors.Object, p)
	}
	k8sattr := cfg.Processors.Object["k8s_attributes"].(map[string]any)
	assert.Equal(t, "K8S_NODE_NAME", k8sattr["filter"].(map[string]any)["node_from_env_var"])
	otlp := cfg.Receivers.Object["otlp"].(map[string]any)["protocols"].(map[string]any)
	for proto, port := range map[string]string{"grpc": ":4317", "http": ":4318"} {
		ep := otlp[proto].(map[string]any)["endpoint"].(string)
		assert.True(t, strings.HasPrefix(ep, "${env:POD_IP") && strings.HasSuffix(ep, port), "otlp %s bound to the pod IP: %s", proto, ep)
	}
	assert.Contains(t, cfg.Exporters.Object, "otlp_grpc")
	assert.Contains(t, cfg.Exporters.Object["otlp_grpc"].(map[string]any)["endpoint"], "crosshair-gateway")
	var logs, traces, metrics bool
	for name, p := range cfg.Service.Pipelines {
		if strings.HasPrefix(name, "logs") && slices.Contains(p.Processors, "isolation_join") && slices.Contains(p.Receivers, "ebpf") {
			logs = true
		}
		if strings.HasPrefix(name, "traces") && slices.Contains(p.Processors, "isolation_join") && slices.Contains(p.Receivers, "otlp") {
			traces = true
			assert.Less(t, slices.Index(p.Processors, "k8s_attributes"), slices.Index(p.Processors, "isolation_join"), "pod metadata before the join")
			assert.Equal(t, "memory_limiter", p.Processors[0])
			assert.Equal(t, "batch", p.Processors[len(p.Processors)-1], "batch after the join: it drops the request context the join reads")
		}
		if strings.HasPrefix(name, "metrics") && slices.Contains(p.Receivers, "ebpf") && slices.Contains(p.Exporters, "prometheus") {
			metrics = true
		}
	}
	assert.True(t, metrics, "a metrics pipeline exports the ebpf receiver's kernel.* metrics to prometheus")
	prom := cfg.Exporters.Object["prometheus"].(map[string]any)
	assert.True(t, strings.HasPrefix(prom["endpoint"].(string), "${env:POD_IP"), "prometheus exporter bound to the pod IP: %v", prom["endpoint"])
	assert.True(t, logs, "a logs pipeline feeds ebpf into isolation_join")
	assert.True(t, traces, "a traces pipeline feeds otlp into isolation_join")
	hostPorts := map[int32]int32{}
	for _, p := range cr.Spec.Ports {
		hostPorts[p.Port] = p.HostPort
	}
	assert.Equal(t, map[int32]int32{4317: 4317, 4318: 4318, 9464: 0}, hostPorts, "OTLP on host ports; kernel metrics on the pod IP only")
}

// ---- policy ----

// pod is a pod template from a DaemonSet, a Deployment or the operator CR.
type pod struct {
	name        string
	hostPID     bool
	hostNetwork bool
	security    *corev1.PodSecurityContext
	containers  []corev1.Container
	volumes     []corev1.Volume
	tolerations []corev1.Toleration
}

func podsOf(ms []manifest) []pod {
	var pods []pod
	fromSpec := func(name string, s corev1.PodSpec) pod {
		return pod{name: name, hostPID: s.HostPID, hostNetwork: s.HostNetwork, security: s.SecurityContext,
			containers: append(slices.Clone(s.InitContainers), s.Containers...), volumes: s.Volumes, tolerations: s.Tolerations}
	}
	for _, m := range ms {
		switch o := m.obj.(type) {
		case *appsv1.DaemonSet:
			pods = append(pods, fromSpec("DaemonSet/"+o.Name, o.Spec.Template.Spec))
		case *appsv1.Deployment:
			pods = append(pods, fromSpec("Deployment/"+o.Name, o.Spec.Template.Spec))
		case *otelv1beta1.OpenTelemetryCollector:
			s := o.Spec
			c := corev1.Container{Name: "otc-container", Image: s.Image, Env: s.Env, SecurityContext: s.SecurityContext, VolumeMounts: s.VolumeMounts}
			for _, p := range s.Ports {
				c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.Port, HostPort: p.HostPort, Protocol: p.Protocol})
			}
			pods = append(pods, pod{name: "OpenTelemetryCollector/" + o.Name, hostPID: s.HostPID, hostNetwork: s.HostNetwork,
				security: s.PodSecurityContext, containers: append(slices.Clone(s.InitContainers), append([]corev1.Container{c}, s.AdditionalContainers...)...),
				volumes: s.Volumes, tolerations: s.Tolerations})
		}
	}
	return pods
}

// nodeAgentCaps are the only capabilities a Crosshair pod may add (docs/design.md §8).
var nodeAgentCaps = []corev1.Capability{"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "SYSLOG"}

// writableHostPaths lists the host paths a probe needs to write, with the
// reason. None does: classic tracepoints are attached with perf_event_open
// after reading their id from tracefs, BTF is only read, cgroup programs
// attach through a read-only directory fd, and /proc is only read. A probe
// that needed write access would be listed here.
var writableHostPaths = map[string]string{}

// requiredHostPaths are what the node agent mounts, each read-only.
var requiredHostPaths = map[string]corev1.HostPathType{
	"/sys/kernel/tracing": corev1.HostPathDirectory,
	"/sys/kernel/btf":     corev1.HostPathDirectory,
	"/sys/fs/cgroup":      corev1.HostPathDirectory,
	"/proc":               corev1.HostPathDirectory,
	"/dev/kmsg":           corev1.HostPathCharDev,
}

func TestPodSecurityPolicy(t *testing.T) {
	pods := podsOf(loadManifests(t))
	require.Len(t, pods, 4, "node agent DaemonSet, operator CR, gateway, sampler")
	agents := 0
	for _, p := range pods {
		t.Run(p.name, func(t *testing.T) {
			assert.False(t, p.hostNetwork, "hostNetwork")
			require.NotNil(t, p.security, "pod securityContext")
			require.NotNil(t, p.security.SeccompProfile, "seccomp profile")
			assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, p.security.SeccompProfile.Type)
			hostPaths := map[string]string{} // volume name → host path
			for _, v := range p.volumes {
				if v.HostPath != nil {
					hostPaths[v.Name] = v.HostPath.Path
				}
			}
			for _, c := range p.containers {
				sc := c.SecurityContext
				require.NotNil(t, sc, "%s: securityContext", c.Name)
				assert.False(t, sc.Privileged != nil && *sc.Privileged, "%s: privileged", c.Name)
				assert.Equal(t, ptr(false), sc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation", c.Name)
				assert.Equal(t, ptr(true), sc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", c.Name)
				require.NotNil(t, sc.Capabilities, "%s: capabilities", c.Name)
				assert.Contains(t, sc.Capabilities.Drop, corev1.Capability("ALL"), "%s: drop ALL", c.Name)
				for _, add := range sc.Capabilities.Add {
					assert.NotEqual(t, "SYS_ADMIN", strings.TrimPrefix(string(add), "CAP_"), "%s adds SYS_ADMIN", c.Name)
					assert.Contains(t, nodeAgentCaps, add, "%s adds %s", c.Name, add)
				}
				for _, vm := range c.VolumeMounts {
					path, ok := hostPaths[vm.Name]
					if !ok {
						continue
					}
					if reason, writable := writableHostPaths[path]; writable {
						t.Logf("%s: %s may be writable: %s", c.Name, path, reason)
						continue
					}
					assert.True(t, vm.ReadOnly, "%s: hostPath %s mounted writable", c.Name, path)
				}
			}
			if !p.hostPID {
				// Gateway tier: nothing from the host, no capability, not root.
				assert.Empty(t, hostPaths, "host paths outside the node agent")
				assert.Equal(t, ptr(true), p.security.RunAsNonRoot, "runAsNonRoot")
				for _, c := range p.containers {
					assert.Empty(t, c.SecurityContext.Capabilities.Add, "%s adds capabilities", c.Name)
				}
				return
			}
			agents++
			require.Len(t, p.containers, 1)
			c := p.containers[0]
			assert.ElementsMatch(t, nodeAgentCaps, c.SecurityContext.Capabilities.Add)
			assert.Equal(t, ptr(int64(0)), c.SecurityContext.RunAsUser, "runAsUser 0 (capabilities need root)")
			paths := map[string]corev1.HostPathType{}
			for _, v := range p.volumes {
				if v.HostPath != nil {
					require.NotNil(t, v.HostPath.Type, "%s must exist on the host", v.HostPath.Path)
					paths[v.HostPath.Path] = *v.HostPath.Type
				}
			}
			assert.Equal(t, requiredHostPaths, paths)
			for name := range hostPaths {
				assert.True(t, slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == name }), "hostPath volume %s not mounted", name)
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			require.Contains(t, env, "K8S_NODE_NAME")
			require.NotNil(t, env["K8S_NODE_NAME"].ValueFrom)
			assert.Equal(t, "spec.nodeName", env["K8S_NODE_NAME"].ValueFrom.FieldRef.FieldPath, "K8S_NODE_NAME from the downward API")
			hostPorts := map[int32]bool{}
			for _, port := range c.Ports {
				if port.HostPort != 0 {
					assert.Equal(t, port.ContainerPort, port.HostPort)
					hostPorts[port.HostPort] = true
				}
			}
			assert.Equal(t, map[int32]bool{4317: true, 4318: true}, hostPorts, "OTLP host ports")
			assert.True(t, slices.ContainsFunc(p.tolerations, func(tl corev1.Toleration) bool { return tl.Operator == corev1.TolerationOpExists && tl.Key == "" }), "runs on every node")
		})
	}
	assert.Equal(t, 2, agents, "node agents: DaemonSet and operator CR")
}

func ptr[T any](v T) *T { return &v }

// TestPolicyCatchesViolations feeds the policy's building blocks deliberately
// bad pod settings, so a policy test that passes means something.
func TestPolicyCatchesViolations(t *testing.T) {
	data := string(mustRead(t, "daemonset/30-daemonset.yaml"))
	for name, edit := range map[string][2]string{
		"privileged":        {"privileged: false", "privileged: true"},
		"SYS_ADMIN":         {"- BPF ", "- SYS_ADMIN "},
		"writable hostPath": {"mountPath: /sys/kernel/tracing\n              readOnly: true", "mountPath: /sys/kernel/tracing\n              readOnly: false"},
		"no drop ALL":       {"drop: [ALL]", "drop: [NET_RAW]"},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, 1, strings.Count(data, edit[0]), "%q", edit[0])
			docs, err := splitDocuments([]byte(strings.Replace(data, edit[0], edit[1], 1)))
			require.NoError(t, err)
			obj, _, _, err := decodeStrict(docs[0])
			require.NoError(t, err)
			p := podsOf([]manifest{{obj: obj}})[0]
			assert.NotEmpty(t, violations(p), "policy did not notice %s", name)
		})
	}
	docs, err := splitDocuments([]byte(data))
	require.NoError(t, err)
	obj, _, _, err := decodeStrict(docs[0])
	require.NoError(t, err)
	assert.Empty(t, violations(podsOf([]manifest{{obj: obj}})[0]), "the shipped DaemonSet")
}

// violations is the core of the policy as a plain function.
func violations(p pod) []string {
	var v []string
	hostPaths := map[string]string{}
	for _, vol := range p.volumes {
		if vol.HostPath != nil {
			hostPaths[vol.Name] = vol.HostPath.Path
		}
	}
	for _, c := range p.containers {
		sc := c.SecurityContext
		if sc == nil {
			v = append(v, c.Name+": no securityContext")
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			v = append(v, c.Name+": privileged")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			v = append(v, c.Name+": does not drop ALL")
		}
		if sc.Capabilities != nil {
			for _, add := range sc.Capabilities.Add {
				if !slices.Contains(nodeAgentCaps, add) {
					v = append(v, c.Name+": adds "+string(add))
				}
			}
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			v = append(v, c.Name+": writable root filesystem")
		}
		for _, vm := range c.VolumeMounts {
			if path, ok := hostPaths[vm.Name]; ok && !vm.ReadOnly {
				if _, allowed := writableHostPaths[path]; !allowed {
					v = append(v, c.Name+": writable hostPath "+path)
				}
			}
		}
	}
	return v
}

func TestNoPolicyViolations(t *testing.T) {
	for _, p := range podsOf(loadManifests(t)) {
		assert.Empty(t, violations(p), "%s", p.name)
	}
}

// TestCapabilityComments: each added capability says which probe needs it.
func TestCapabilityComments(t *testing.T) {
	line := regexp.MustCompile(`(?m)^\s*- (BPF|PERFMON|SYS_PTRACE|DAC_READ_SEARCH|SYSLOG)\b(.*)$`)
	for _, file := range []string{"operator/collector.yaml", "daemonset/30-daemonset.yaml"} {
		matches := line.FindAllStringSubmatch(string(mustRead(t, file)), -1)
		require.Len(t, matches, len(nodeAgentCaps), "%s", file)
		for _, m := range matches {
			comment, ok := strings.CutPrefix(strings.TrimSpace(m[2]), "#")
			assert.True(t, ok && len(strings.TrimSpace(comment)) > 20, "%s: %s has no comment saying which probe needs it", file, m[1])
		}
	}
}

// TestOperatorAndDaemonSetAgree: both installs run the node agent alike.
func TestOperatorAndDaemonSetAgree(t *testing.T) {
	var ds, cr *pod
	pods := podsOf(loadManifests(t))
	for i := range pods {
		switch pods[i].name {
		case "DaemonSet/crosshair-node-agent":
			ds = &pods[i]
		case "OpenTelemetryCollector/crosshair":
			cr = &pods[i]
		}
	}
	require.NotNil(t, ds)
	require.NotNil(t, cr)
	dc, cc := ds.containers[0], cr.containers[0]
	assert.Equal(t, dc.SecurityContext, cc.SecurityContext)
	assert.Equal(t, ds.security, cr.security)
	assert.Equal(t, ds.hostPID, cr.hostPID)
	assert.Equal(t, ds.tolerations, cr.tolerations)
	assert.Equal(t, dc.Env, cc.Env)
	assert.Equal(t, dc.Image, cc.Image)
	notConfig := func(name string) bool { return name == "config" }
	assert.Equal(t, slices.DeleteFunc(slices.Clone(ds.volumes), func(v corev1.Volume) bool { return notConfig(v.Name) }), cr.volumes)
	assert.Equal(t, slices.DeleteFunc(slices.Clone(dc.VolumeMounts), func(v corev1.VolumeMount) bool { return notConfig(v.Name) }), cc.VolumeMounts)
}

func TestRBACIsMinimal(t *testing.T) {
	ms := loadManifests(t)
	roles := objectsOf[*rbacv1.ClusterRole](ms)
	require.Len(t, roles, 1)
	read := []string{"get", "list", "watch"}
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "namespaces"}, Verbs: read},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: read},
	}, roles[0].Rules)
	bindings := objectsOf[*rbacv1.ClusterRoleBinding](ms)
	require.Len(t, bindings, 1)
	assert.Equal(t, roles[0].Name, bindings[0].RoleRef.Name)
	require.Len(t, bindings[0].Subjects, 1)
	sas := objectsOf[*corev1.ServiceAccount](ms)
	require.Len(t, sas, 1)
	assert.Equal(t, rbacv1.Subject{Kind: "ServiceAccount", Name: sas[0].Name, Namespace: sas[0].Namespace}, bindings[0].Subjects[0])
	for _, ds := range objectsOf[*appsv1.DaemonSet](ms) {
		assert.Equal(t, sas[0].Name, ds.Spec.Template.Spec.ServiceAccountName)
	}
}

// TestServicesReachPods: every Service selects a pod template and targets
// ports that pod names.
func TestServicesReachPods(t *testing.T) {
	ms := loadManifests(t)
	type tmpl struct {
		labels map[string]string
		ports  []corev1.ContainerPort
	}
	var templates []tmpl
	for _, d := range objectsOf[*appsv1.Deployment](ms) {
		var ports []corev1.ContainerPort
		for _, c := range d.Spec.Template.Spec.Containers {
			ports = append(ports, c.Ports...)
		}
		templates = append(templates, tmpl{d.Spec.Template.Labels, ports})
	}
	services := objectsOf[*corev1.Service](ms)
	require.NotEmpty(t, services)
	for _, s := range services {
		var match *tmpl
		for i := range templates {
			ok := len(s.Spec.Selector) > 0
			for k, v := range s.Spec.Selector {
				ok = ok && templates[i].labels[k] == v
			}
			if ok {
				match = &templates[i]
			}
		}
		require.NotNil(t, match, "Service %s selects no Deployment", s.Name)
		for _, sp := range s.Spec.Ports {
			assert.True(t, slices.ContainsFunc(match.ports, func(cp corev1.ContainerPort) bool { return cp.Name == sp.TargetPort.StrVal }),
				"Service %s targets port %q no container names", s.Name, sp.TargetPort.StrVal)
		}
	}
}

// TestSamplerKeepsLayeredTraces checks the otelcol-contrib tail-sampling
// config (not validated by otelcol-crosshair, which lacks tail_sampling):
// its layer policy keeps L0–L4 and network and not app.
func TestSamplerKeepsLayeredTraces(t *testing.T) {
	ms := loadManifests(t)
	var sampler []collectorConfig
	for _, c := range carriedConfigs(t, ms) {
		if !crosshairImage(c.image) {
			sampler = append(sampler, c)
		}
	}
	require.Len(t, sampler, 1)
	assert.Contains(t, sampler[0].image, "otel/opentelemetry-collector-contrib:0.159.0")
	var cfg struct {
		Processors struct {
			TailSampling struct {
				Policies []struct {
					Name            string `json:"name"`
					Type            string `json:"type"`
					StringAttribute *struct {
						Key                  string   `json:"key"`
						Values               []string `json:"values"`
						EnabledRegexMatching bool     `json:"enabled_regex_matching"`
						InvertMatch          bool     `json:"invert_match"`
					} `json:"string_attribute"`
				} `json:"policies"`
			} `json:"tail_sampling"`
		} `json:"processors"`
		Service struct {
			Pipelines map[string]struct {
				Processors []string `json:"processors"`
			} `json:"pipelines"`
		} `json:"service"`
	}
	require.NoError(t, yaml.Unmarshal(sampler[0].yaml, &cfg))
	assert.Contains(t, cfg.Service.Pipelines["traces"].Processors, "tail_sampling")
	var layer *regexp.Regexp
	for _, p := range cfg.Processors.TailSampling.Policies {
		if p.Type == "string_attribute" && p.StringAttribute != nil && p.StringAttribute.Key == "isolation.layer" {
			require.True(t, p.StringAttribute.EnabledRegexMatching)
			require.False(t, p.StringAttribute.InvertMatch)
			require.Len(t, p.StringAttribute.Values, 1)
			layer = regexp.MustCompile(p.StringAttribute.Values[0])
		}
	}
	require.NotNil(t, layer, "no tail_sampling policy on isolation.layer")
	for _, v := range []string{"L0", "L1", "L2", "L3", "L4", "network"} {
		assert.True(t, layer.MatchString(v), "keeps %s", v)
	}
	for _, v := range []string{"app", "", "L5", "xL3"} {
		assert.False(t, layer.MatchString(v), "drops %q", v)
	}
}
