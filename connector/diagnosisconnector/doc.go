// Package diagnosisconnector turns the diagnosis exporter's five-step report
// of each slow or failed trace into a log record (event crosshair.diagnosis)
// on a logs pipeline, so an OTLP exporter carries it to a backend.
//
//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml
package diagnosisconnector // import "github.com/crosshair-otel/crosshair/connector/diagnosisconnector"
