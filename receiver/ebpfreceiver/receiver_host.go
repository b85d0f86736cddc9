package ebpfreceiver // import "github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// appendHistograms adds the probes' in-kernel histograms to md, in the
// receiver's scope (mdatagen's builder cannot build histograms).
func (r *ebpfReceiver) appendHistograms(now pcommon.Timestamp, md pmetric.Metrics) {
	ms := pmetric.NewMetricSlice()
	for name, a := range r.probes.Attachments() {
		if a.CollectHistograms == nil {
			continue
		}
		if err := a.CollectHistograms(now, ms); err != nil {
			r.settings.Logger.Warn("collect probe histograms", zap.String("probe", name), zap.Error(err))
		}
	}
	if ms.Len() == 0 {
		return
	}
	var sm pmetric.ScopeMetrics
	if md.ResourceMetrics().Len() > 0 && md.ResourceMetrics().At(0).ScopeMetrics().Len() > 0 {
		sm = md.ResourceMetrics().At(0).ScopeMetrics().At(0)
	} else {
		rm := md.ResourceMetrics().AppendEmpty()
		sm = rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(metadata.ScopeName)
	}
	ms.MoveAndAppendTo(sm.Metrics())
}
