package event

import (
	"encoding/binary"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
)

// Values of tcp_retransmit_event.kind (enum retransmit_kind in
// bpf/tcpretrans.c).
const (
	retransmitUnknown = 0
	retransmitFast    = 1
	retransmitTimeout = 2
	retransmitOther   = 3
)

// RetransmitKind names a retransmit_kind value as the contract spells it
// ("" when the probe did not read it).
func RetransmitKind(v uint8) string {
	switch v {
	case retransmitFast:
		return contract.RetransmitFast
	case retransmitTimeout:
		return contract.RetransmitTimeout
	case retransmitOther:
		return contract.RetransmitOther
	}
	return ""
}

// decodeRetransmit writes kernel.tcp.retransmit: the sender's 5-tuple, the
// owner, and what the loss cost this segment — kernel.tcp.retransmit.wait_ns (time
// since its previous transmission; absent when not measured) and
// kernel.tcp.retransmit.kind.
func (d *Decoder) decodeRetransmit(raw []byte, h Header, dst plog.LogRecordSlice) error {
	t, err := d.tuple(raw, h, TCPRetransmitSize)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	kind := RetransmitKind(raw[tcpRetransmitKind])
	wait := le.Uint64(raw[tcpRetransmitWait:])
	lr := d.newRecord(dst, h, contract.EventTCPRetransmit, plog.SeverityNumberWarn)
	attrs := lr.Attributes()
	putTuple(attrs, t)
	attrs.PutStr(contract.AttrConnectionState, TCPStateName(t.State))
	if kind != "" {
		attrs.PutStr(contract.AttrTCPRetransmitKind, kind)
	}
	if wait > 0 {
		attrs.PutInt(contract.AttrTCPRetransmitWaitNs, clampInt(wait))
	}
	// A retransmit on its own says the segment was lost somewhere; the
	// join decides whether a local drop explains it (docs/design.md §5).
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventTCPRetransmit}))
	body := "tcp retransmit " + t.Local.String() + " -> " + t.Peer.String() + " state " + TCPStateName(t.State)
	if kind != "" {
		body += " (" + kind + ")"
	}
	if wait > 0 {
		body += " after " + time.Duration(wait).Round(time.Microsecond).String()
	}
	if e := int32(le.Uint32(raw[tcpRetransmitErr:])); e != 0 {
		body += " err " + strconv.Itoa(int(e))
	}
	lr.Body().SetStr(body)
	return nil
}
