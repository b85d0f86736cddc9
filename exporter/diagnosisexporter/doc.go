// Package diagnosisexporter writes, for each trace with a slow or failed
// span, the five-step diagnosis of the isolation_join verdicts: the slow
// hop, its layer and cause with evidence, the other layers with evidence,
// the joined kernel events and a remedy hint.
//
//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml
package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"
