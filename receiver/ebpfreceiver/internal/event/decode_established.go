package event

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
)

// Values of tcp_established_event.side (enum established_side in
// bpf/common.h).
const (
	establishedConnect  = 1
	establishedAccept   = 2
	establishedExisting = 3
)

// EstablishedSide names an established_side value as the contract spells
// it ("" for an unknown value).
func EstablishedSide(v uint8) string {
	switch v {
	case establishedConnect:
		return contract.EstablishedConnect
	case establishedAccept:
		return contract.EstablishedAccept
	case establishedExisting:
		return contract.EstablishedExisting
	}
	return ""
}

// decodeEstablished writes kernel.tcp.established: the socket's 5-tuple as
// its own side sees it and the process that owns it, stamped with the time
// the connection was established (or, for side=existing, the time the
// start-up snapshot found it).
func (d *Decoder) decodeEstablished(raw []byte, h Header, dst plog.LogRecordSlice) error {
	t, err := d.tuple(raw, h, TCPEstablishedSize)
	if err != nil {
		return err
	}
	side := EstablishedSide(raw[tcpEstablishedSide])
	if side == "" {
		return fmt.Errorf("tcp established: unknown side %d", raw[tcpEstablishedSide])
	}
	lr := d.newRecord(dst, h, contract.EventTCPEstablished, plog.SeverityNumberInfo)
	attrs := lr.Attributes()
	putTuple(attrs, t)
	attrs.PutStr(contract.AttrConnectionState, TCPStateName(t.State))
	attrs.PutStr(contract.AttrTCPEstablishedSide, side)
	// Not evidence of a fault: a fact for the connection table.
	attrs.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventTCPEstablished}))
	lr.Body().SetStr("tcp established (" + side + ") " + t.Local.String() + " -> " + t.Peer.String())
	return nil
}
