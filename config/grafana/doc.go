// Package grafana holds the Crosshair Grafana dashboard (crosshair.json) and
// its test: every panel's query evaluated by a real Prometheus server that
// scrapes the collector, run on config/node-agent.yaml, under real kernel
// activity.
package grafana // import "github.com/crosshair-otel/crosshair/config/grafana"
