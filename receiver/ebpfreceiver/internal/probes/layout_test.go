package probes

import (
	"testing"
	"unsafe"
)

// The ring-buffer records' layouts are checked in the event package
// (against every object's BTF); the histograms are read here, by the types
// bpf2go generates for each object, which must agree.
func TestHistogramLayouts(t *testing.T) {
	var (
		hist    schedLog2Hist
		histOut blockioLog2Hist
	)
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"log2_hist slots", unsafe.Sizeof(hist.Slots) / 8, histSlots},
		{"log2_hist same in every object", unsafe.Sizeof(histOut), unsafe.Sizeof(hist)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: C layout %d, Go %d", tt.name, tt.got, tt.want)
		}
	}
}
