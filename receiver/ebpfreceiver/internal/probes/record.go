package probes

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// appendWarnRecord appends a kernel-event record of the file-polled probes
// (steal, cgroup throttling, conntrack): stamped now, the end of the
// interval it sums, at severity WARN.
func appendWarnRecord(logs plog.LogRecordSlice, now time.Time, event string) plog.LogRecord {
	lr := logs.AppendEmpty()
	ts := pcommon.NewTimestampFromTime(now)
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(ts)
	lr.SetEventName(event)
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText(plog.SeverityNumberWarn.String())
	return lr
}
