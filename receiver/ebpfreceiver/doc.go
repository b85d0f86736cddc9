// Package ebpfreceiver loads Crosshair's BPF programs on kernel tracepoints
// and emits the kernel events they see as log records following the
// kernel-event contract (docs/design.md §3).
//
//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml
package ebpfreceiver // import "github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"
