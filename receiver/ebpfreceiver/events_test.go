package ebpfreceiver

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/testenv"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// TestEveryContractEventIsDeclared: metadata.yaml's events (and so
// documentation.md) name exactly the event names of the kernel-event
// contract, and every attribute declared for them is a contract attribute.
func TestEveryContractEventIsDeclared(t *testing.T) {
	consts := contractConstants(t)
	var want []string
	attrs := map[string]bool{}
	for name, v := range consts {
		switch {
		case strings.HasPrefix(name, "Event") && strings.HasPrefix(v, "kernel."):
			want = append(want, v)
		case strings.HasPrefix(name, "Attr"):
			attrs[v] = true
		}
	}
	var declared []string
	ty := reflect.TypeOf(metadata.EventsConfig{})
	for i := 0; i < ty.NumField(); i++ {
		declared = append(declared, ty.Field(i).Tag.Get("mapstructure"))
	}
	slices.Sort(want)
	slices.Sort(declared)
	require.Equal(t, want, declared)

	doc, err := os.ReadFile("documentation.md")
	require.NoError(t, err)
	events := string(doc)[regexp.MustCompile(`(?m)^## Default Events`).FindStringIndex(string(doc))[0]:]
	for _, m := range regexp.MustCompile(`(?m)^\| ([a-z][\w.]*) \|`).FindAllStringSubmatch(events, -1) {
		if m[1] == "host.name" || m[1] == "k8s.node.name" {
			continue
		}
		assert.True(t, attrs[m[1]], "documentation.md lists %s for an event; not a contract attribute", m[1])
	}
}

// contractConstants type-checks internal/contract from source and returns
// its string constants by name (values as the compiler sees them: some are
// semantic-convention keys from otel's semconv package, not literals).
func contractConstants(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join("..", "..", "internal", "contract")
	fset := token.NewFileSet()
	var files []*ast.File
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		require.NoError(t, err)
		files = append(files, f)
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	pkg, err := conf.Check("contract", fset, files, nil)
	require.NoError(t, err)
	out := map[string]string{}
	for _, name := range pkg.Scope().Names() {
		if c, ok := pkg.Scope().Lookup(name).(*types.Const); ok && c.Val().Kind() == constant.String {
			out[name] = constant.StringVal(c.Val())
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestDisabledEventIsDropped: `events: {kernel.conntrack.insert_failed:
// {enabled: false}}` keeps the probe running (its metrics) but sends none of
// its records.
func TestDisabledEventIsDropped(t *testing.T) {
	testenv.RequireRoot(t)
	stat := filepath.Join(t.TempDir(), "nf_conntrack")
	require.NoError(t, os.WriteFile(stat, conntrackStat(1), 0o600))
	cfg := createDefaultConfig()
	cfg.Probes = []string{"conntrack", "tcp_reset"}
	cfg.Conntrack.StatPath = stat
	cfg.PollInterval = 20 * time.Millisecond
	cfg.Events.KernelConntrackInsertFailed.Enabled = false
	sink := new(consumertest.LogsSink)
	r := startReceiver(t, cfg, sink, nil)
	require.NoError(t, os.WriteFile(stat, conntrackStat(5), 0o600))
	// Several polls see the rise; none of their records is sent.
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, findRecords(sink, contract.EventConntrackInsertFailed))
	assert.Contains(t, r.probes.Attached(), "conntrack")
}

// TestEventNameAttributeOptIn: a record names its event in the EventName
// field only; event_name_attribute: true also writes the deprecated
// event.name attribute, for backends that predate the field.
func TestEventNameAttributeOptIn(t *testing.T) {
	testenv.RequireRoot(t)
	for _, optIn := range []bool{false, true} {
		t.Run(fmt.Sprint("event_name_attribute=", optIn), func(t *testing.T) {
			stat := filepath.Join(t.TempDir(), "nf_conntrack")
			require.NoError(t, os.WriteFile(stat, conntrackStat(1), 0o600))
			cfg := createDefaultConfig()
			cfg.Probes = []string{"conntrack"}
			cfg.Conntrack.StatPath = stat
			cfg.PollInterval = 20 * time.Millisecond
			cfg.EventNameAttribute = optIn
			sink := new(consumertest.LogsSink)
			startReceiver(t, cfg, sink, nil)
			require.NoError(t, os.WriteFile(stat, conntrackStat(5), 0o600))
			require.Eventually(t, func() bool { return len(findRecords(sink, contract.EventConntrackInsertFailed)) > 0 }, 5*time.Second, 20*time.Millisecond)
			lr := findRecords(sink, contract.EventConntrackInsertFailed)[0]
			assert.Equal(t, contract.EventConntrackInsertFailed, lr.EventName())
			v, ok := lr.Attributes().Get(contract.AttrEventName)
			if !optIn {
				assert.False(t, ok, "event.name written without event_name_attribute")
				return
			}
			require.True(t, ok, "event_name_attribute: true writes event.name")
			assert.Equal(t, contract.EventConntrackInsertFailed, v.Str())
		})
	}
}
