// Package isolationjoinprocessor joins kernel-event log records onto spans
// and tags each span with the isolation layer that explains its delay
// (docs/design.md §4, §5). One instance per component ID serves a logs pipeline
// (kernel events in) and a traces pipeline (spans in and out).
//
//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml
package isolationjoinprocessor // import "github.com/crosshair-otel/crosshair/processor/isolationjoinprocessor"
