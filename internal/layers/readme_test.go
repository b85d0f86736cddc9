package layers

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the rule table in the processor README from Default")

const (
	readme     = "../../processor/isolationjoinprocessor/README.md"
	tableBegin = "<!-- begin: layers.Default (internal/layers; go test ./internal/layers -update-readme) -->\n"
	tableEnd   = "<!-- end: layers.Default -->"
)

// The README's rule table is Default rendered: a row changed in one and
// not the other fails here.
func TestREADMERuleTable(t *testing.T) {
	raw, err := os.ReadFile(readme)
	require.NoError(t, err)
	doc := string(raw)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	require.True(t, i >= 0 && j > i, "%s: no rule table between %q and %q", readme, tableBegin, tableEnd)
	want := Markdown(Default)
	got := doc[i+len(tableBegin) : j]
	if *updateREADME && got != want {
		require.NoError(t, os.WriteFile(readme, []byte(doc[:i+len(tableBegin)]+want+doc[j:]), 0o644))
		return
	}
	assert.Equal(t, want, got, "the README's rule table differs from layers.Default: go test ./internal/layers -update-readme")
}
