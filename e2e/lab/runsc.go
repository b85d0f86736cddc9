package lab

import (
	"os"
	"path/filepath"
)

// RunscDir is the TMPDIR of a service started inside gVisor: `runsc do`
// keeps its bundle and its state (config.json, the sandbox lock) in a
// runsc-do* directory under TMPDIR and removes it only when it exits
// cleanly; a killed run leaves it, so it lives in a directory of ours.
var RunscDir = filepath.Join(os.TempDir(), Prefix+"runsc")

// cleanupRunsc removes what the gVisor sandboxes left (Cleanup has killed
// them first: runsc, its Sentry, gofer and stubs run in the service's
// cgroups).
func cleanupRunsc() error {
	return os.RemoveAll(RunscDir)
}
