package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/exporter/diagnosisexporter/internal/view"
)

// viewServer serves the crosshair view of the last diagnosed traces on its
// own HTTP endpoint. It lives in the exporter (not in an extension) because
// the exporter is where the diagnosed traces and their spans are: no
// shared state between components is needed.
type viewServer struct {
	ring   *view.Ring
	srv    *http.Server
	done   chan struct{}
	logger *zap.Logger
	addr   string // where it listens (the port chosen when the endpoint's is 0)
}

func startView(cfg *ViewConfig, logger *zap.Logger) (*viewServer, error) {
	ring := view.NewRing(cfg.MaxTraces)
	pages, err := view.NewPages(ring)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("view.endpoint: %w", err)
	}
	v := &viewServer{
		ring:   ring,
		srv:    &http.Server{Handler: pages.Handler(), ReadHeaderTimeout: 5 * time.Second},
		done:   make(chan struct{}),
		logger: logger,
		addr:   ln.Addr().String(),
	}
	addr := ln.Addr().(*net.TCPAddr)
	if !addr.IP.IsLoopback() {
		logger.Warn("the crosshair view is reachable from other hosts; it has no authentication", zap.String("endpoint", ln.Addr().String()))
	}
	logger.Info("crosshair view: the last diagnosed traces", zap.String("url", "http://"+ln.Addr().String()+"/"))
	go func() {
		defer close(v.done)
		if err := v.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("crosshair view stopped", zap.Error(err))
		}
	}()
	return v, nil
}

func (v *viewServer) shutdown(ctx context.Context) error {
	err := v.srv.Shutdown(ctx)
	<-v.done
	return err
}

// add keeps a diagnosed trace for the view.
func (v *viewServer) add(r *Report, spans []spanRec) {
	v.ring.Add(toViewTrace(r, spans))
}

// toViewTrace copies what the pages draw out of the report and its spans.
func toViewTrace(r *Report, spans []spanRec) *view.Trace {
	t := &view.Trace{
		ID: r.TraceID, Received: time.Now(), Root: r.Root, RootMs: r.RootMs, Trigger: r.Trigger,
		SlowSpanID: r.SlowHop.SpanID, HopLine: r.HopLine(), HopService: r.SlowHop.Service,
		HopKind: r.SlowHop.Kind, HopSpan: r.SlowHop.Span, HopMs: r.SlowHop.DurationMs,
		HopSelfMs: r.SlowHop.SelfMs, HopError: r.SlowHop.Error, HopPeer: r.SlowHop.PeerAddress,
		Layer: r.Layer, Join: r.Join, Cause: r.Cause, Remedy: r.Remedy, SpansDropped: r.SpansDropped,
	}
	for _, e := range r.Evidence {
		t.Evidence = append(t.Evidence, view.KV{Key: e.Name, Value: fmt.Sprint(e.Value)})
	}
	for _, o := range r.OtherLayers {
		t.Others = append(t.Others, view.Other{Service: o.Service, Span: o.Span, Kind: o.Kind, Layer: o.Layer, Cause: o.Cause, SelfMs: o.SelfMs})
	}
	t.Spans = make([]view.Span, len(spans))
	for i := range spans {
		s := &spans[i]
		vs := view.Span{
			ID: s.spanID.String(), Service: s.service, Name: s.name, Kind: kindName(s.kind),
			Start: s.start, End: s.end, Error: s.statusErr,
			Layer: s.str(attrLayer), Cause: s.str(attrCause), Join: s.str(attrJoin),
		}
		if !s.parentID.IsEmpty() {
			vs.ParentID = s.parentID.String()
		}
		for _, ev := range s.events {
			if strings.HasPrefix(ev.name, "kernel.") {
				vs.Events = append(vs.Events, toViewEvent(ev))
			}
		}
		t.Spans[i] = vs
	}
	return t
}

// Span-event attributes the processor writes that are not details.
const (
	attrEventLayer  = "isolation.layer"
	attrEventTimeMs = "kernel.time_ms"
)

func toViewEvent(ev eventRec) view.Event {
	out := view.Event{Name: ev.name, Time: ev.time}
	if v, ok := ev.attrs[attrEventLayer]; ok {
		out.Layer = fmt.Sprint(v)
	}
	switch v := ev.attrs[attrEventTimeMs].(type) {
	case float64:
		out.TimeMs = v
	case int64:
		out.TimeMs = float64(v)
	}
	for k, v := range ev.attrs {
		if k == attrEventLayer || k == attrEventTimeMs {
			continue
		}
		out.Details = append(out.Details, view.KV{Key: k, Value: fmt.Sprint(v)})
	}
	sort.Slice(out.Details, func(i, j int) bool { return out.Details[i].Key < out.Details[j].Key })
	return out
}
