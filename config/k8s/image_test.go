package k8s_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDockerfile checks the image recipe against the repository: the Go
// version of go.mod, the ocb manifest, a static binary in a minimal runtime,
// and a default config that exists.
func TestDockerfile(t *testing.T) {
	dockerfile := string(mustRead(t, "../../Dockerfile"))
	gomod := string(mustRead(t, "../../go.mod"))

	goDirective := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	require.NotNil(t, goDirective)
	goArg := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindStringSubmatch(dockerfile)
	require.NotNil(t, goArg, "ARG GO_VERSION")
	assert.Equal(t, goDirective[1], goArg[1], "the build stage's Go is go.mod's")

	froms := regexp.MustCompile(`(?m)^FROM (\S+)(?: AS (\S+))?$`).FindAllStringSubmatch(dockerfile, -1)
	require.Len(t, froms, 2, "multi-stage: build and runtime")
	assert.True(t, strings.HasPrefix(froms[0][1], "golang:"), "build stage: %s", froms[0][1])
	assert.Contains(t, froms[1][1], "distroless/static", "runtime: a static binary needs no libc")

	assert.Contains(t, dockerfile, "builder --config builder-config.yaml --skip-compilation")
	assert.Contains(t, dockerfile, "CGO_ENABLED=0")
	assert.Contains(t, dockerfile, "COPY --from=build /out/otelcol-crosshair /otelcol-crosshair")
	assert.Contains(t, dockerfile, `ENTRYPOINT ["/otelcol-crosshair"]`)

	copies := regexp.MustCompile(`(?m)^COPY (config/\S+) (\S+)$`).FindAllStringSubmatch(dockerfile, -1)
	require.Len(t, copies, 1, "the default config")
	_, err := os.Stat(filepath.Join("../..", copies[0][1]))
	require.NoError(t, err, "default config %s", copies[0][1])
	assert.Contains(t, dockerfile, `CMD ["--config=`+copies[0][2]+`"]`)

	// The manifests run the image with the same config path.
	for _, m := range loadManifests(t) {
		if strings.Contains(m.kind, "DaemonSet") {
			assert.Contains(t, string(m.raw), "--config="+copies[0][2])
		}
	}
}

// TestMakeImageWithoutEngine: where no container engine runs (these
// machines have a docker client but no daemon), `make image` says so and
// fails, instead of failing obscurely or pretending.
func TestMakeImageWithoutEngine(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not on PATH")
	}
	dir := t.TempDir()
	clientOnly := filepath.Join(dir, "docker")
	// A docker client whose `info` cannot reach a daemon, like this machine's.
	require.NoError(t, os.WriteFile(clientOnly, []byte("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n"), 0o755))
	for name, tt := range map[string]struct{ docker, want string }{
		"client without daemon": {clientOnly, "'" + clientOnly + " info' cannot reach a daemon"},
		"no client":             {filepath.Join(dir, "absent"), "is not installed"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("make", "-s", "-C", "../..", "image", "DOCKER="+tt.docker).CombinedOutput()
			require.Error(t, err, "make image succeeded without an engine:\n%s", out)
			assert.Contains(t, string(out), "no container engine")
			assert.Contains(t, string(out), tt.want)
		})
	}
}
