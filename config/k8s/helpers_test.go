package k8s_test

import (
	"os/exec"
	"testing"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// requireBinary skips the test when otelcol-crosshair is not built, or fails
// it where CI demands every test runs (CROSSHAIR_REQUIRE_BPF=1).
func requireBinary(t *testing.T, bin string, err error) {
	t.Helper()
	testenv.SkipOrFail(t, "%s not built (run make build, or set OTELCOL_CROSSHAIR): %v", bin, err)
}

// runBinary runs otelcol-crosshair with exactly the given environment.
func runBinary(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
