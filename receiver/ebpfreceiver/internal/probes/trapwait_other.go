//go:build !amd64

package probes

// archTrapWaitCalls: newer architectures (arm64) have only the p-variants
// of the waits, in trapWaitCalls.
var archTrapWaitCalls []int
