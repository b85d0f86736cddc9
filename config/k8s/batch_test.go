package k8s_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// maxJoinedBatch is the largest batch of joined spans the shipped configs
// send: a joined span carries the join's attributes and span event, and a
// full default batch (8192 spans) of them exceeded gRPC's default 4 MiB
// message limit at the next hop, which refuses it without retry
// (bench/collector: exporter_send_failed_spans=9800, processor BENCHMARKS).
const maxJoinedBatch = 2048

// TestJoinedBatchesFitTheNextHop: every batch processor that follows
// isolation_join in a traces pipeline, in every config we ship (files and
// manifests), caps its batches at maxJoinedBatch spans.
func TestJoinedBatchesFitTheNextHop(t *testing.T) {
	configs := map[string][]byte{}
	for _, f := range []string{"../node-agent.yaml", "../gateway.yaml"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		configs[f] = b
	}
	for _, c := range carriedConfigs(t, loadManifests(t)) {
		if crosshairImage(c.image) {
			configs[c.name] = c.yaml
		}
	}
	checked := 0
	for name, raw := range configs {
		var cfg struct {
			Processors map[string]map[string]any `json:"processors"`
			Service    struct {
				Pipelines map[string]struct {
					Processors []string `json:"processors"`
				} `json:"pipelines"`
			} `json:"service"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &cfg), name)
		for pname, p := range cfg.Service.Pipelines {
			join := slices.Index(p.Processors, "isolation_join")
			if !strings.HasPrefix(pname, "traces") || join < 0 {
				continue
			}
			for _, proc := range p.Processors[join+1:] {
				if proc != "batch" && !strings.HasPrefix(proc, "batch/") {
					continue
				}
				checked++
				max, ok := cfg.Processors[proc]["send_batch_max_size"].(float64)
				if assert.True(t, ok, "%s: %s in %s sets no send_batch_max_size", name, proc, pname) {
					assert.LessOrEqual(t, max, float64(maxJoinedBatch), "%s: %s in %s", name, proc, pname)
					assert.Positive(t, max, "%s: %s in %s", name, proc, pname)
				}
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 5, "batch processors after the join in the shipped configs")
}
