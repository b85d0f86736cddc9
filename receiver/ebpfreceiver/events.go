package ebpfreceiver // import "github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"

import (
	"reflect"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// disabledEvents names the events the config turned off. The generated
// EventsConfig has one field per event of metadata.yaml, tagged with the
// event's name, so the set follows metadata.yaml without a list here.
func disabledEvents(c metadata.EventsConfig) map[string]bool {
	off := map[string]bool{}
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		if ec, ok := v.Field(i).Interface().(metadata.EventConfig); ok && !ec.Enabled {
			off[v.Type().Field(i).Tag.Get("mapstructure")] = true
		}
	}
	return off
}

// dropDisabled removes the records of disabled events from logs and returns
// how many remain.
func dropDisabled(logs plog.Logs, off map[string]bool) int {
	n := 0
	rls := logs.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			lrs.RemoveIf(func(lr plog.LogRecord) bool { return off[lr.EventName()] })
			n += lrs.Len()
		}
	}
	return n
}

// addEventNameAttribute copies each record's EventName into the deprecated
// event.name attribute (the event_name_attribute setting).
func addEventNameAttribute(logs plog.Logs) {
	rls := logs.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				if n := lr.EventName(); n != "" {
					lr.Attributes().PutStr(contract.AttrEventName, n)
				}
			}
		}
	}
}
