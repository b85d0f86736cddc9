package kevent

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

// TestEventNameFieldFirst: the processor reads a record's event from the
// EventName field and falls back to the deprecated event.name attribute
// (a sender that predates the field, or the receiver's
// event_name_attribute); the field wins when both are set.
func TestEventNameFieldFirst(t *testing.T) {
	for _, tt := range []struct {
		name       string
		field, att string
		want       string
	}{
		{"field only", contract.EventSKBDrop, "", contract.EventSKBDrop},
		{"attribute only", "", contract.EventSKBDrop, contract.EventSKBDrop},
		{"field wins", "app.started", contract.EventSKBDrop, "app.started"},
		{"neither", "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lr := plog.NewLogRecord()
			lr.SetEventName(tt.field)
			if tt.att != "" {
				lr.Attributes().PutStr(contract.AttrEventName, tt.att)
			}
			assert.Equal(t, tt.want, name(lr))
		})
	}
}
