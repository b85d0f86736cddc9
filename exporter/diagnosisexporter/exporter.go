package diagnosisexporter // import "github.com/crosshair-otel/crosshair/exporter/diagnosisexporter"

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.uber.org/zap"
)

// traceBuf collects one trace's spans until its report is due.
type traceBuf struct {
	id      pcommon.TraceID
	first   time.Time
	spans   []spanRec
	dropped int
}

type diagnosisExporter struct {
	cfg    *Config
	logger *zap.Logger
	now    func() time.Time

	mu     sync.Mutex
	traces map[pcommon.TraceID]*traceBuf
	order  []*traceBuf // by first arrival; reported entries are skipped

	outMu   sync.Mutex
	text    io.Writer
	jsonOut io.Writer
	closers []io.Closer

	stop chan struct{}
	done chan struct{}

	view *viewServer // nil when view.endpoint is ""

	// emit, when set, receives every report after the outputs above (the
	// diagnosis connector turns it into a log record).
	emit func(*Report)
}

func newDiagnosisExporter(cfg *Config, logger *zap.Logger) *diagnosisExporter {
	return &diagnosisExporter{
		cfg:    cfg,
		logger: logger,
		now:    time.Now,
		traces: map[pcommon.TraceID]*traceBuf{},
	}
}

func (e *diagnosisExporter) open(path string) (io.Writer, error) {
	switch path {
	case "":
		return nil, nil
	case OutputStdout:
		return os.Stdout, nil
	case OutputStderr:
		return os.Stderr, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, f)
	return f, nil
}

func (e *diagnosisExporter) start(_ context.Context, _ component.Host) error {
	var err error
	if e.text, err = e.open(e.cfg.TextPath); err != nil {
		return fmt.Errorf("text_path: %w", err)
	}
	if e.jsonOut, err = e.open(e.cfg.JSONPath); err != nil {
		return fmt.Errorf("json_path: %w", err)
	}
	if e.cfg.View.Endpoint != "" {
		if e.view, err = startView(&e.cfg.View, e.logger); err != nil {
			return err
		}
	}
	e.stop = make(chan struct{})
	e.done = make(chan struct{})
	go e.loop()
	return nil
}

func (e *diagnosisExporter) tick() time.Duration {
	t := e.cfg.TraceWait / 4
	if t < 10*time.Millisecond {
		t = 10 * time.Millisecond
	}
	if t > 500*time.Millisecond {
		t = 500 * time.Millisecond
	}
	return t
}

func (e *diagnosisExporter) loop() {
	defer close(e.done)
	t := time.NewTicker(e.tick())
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.flush(false)
		}
	}
}

func (e *diagnosisExporter) shutdown(ctx context.Context) error {
	if e.stop != nil {
		close(e.stop)
		<-e.done
		e.stop = nil
	}
	e.flush(true) // every collected trace gets its report
	var err error
	if e.view != nil {
		if verr := e.view.shutdown(ctx); verr != nil {
			err = fmt.Errorf("stopping the view: %w", verr)
		}
		e.view = nil
	}
	for _, c := range e.closers {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	e.closers = nil
	return err
}

func (e *diagnosisExporter) consumeTraces(_ context.Context, td ptrace.Traces) error {
	now := e.now()
	var due []*traceBuf
	e.mu.Lock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		service := "unknown_service"
		if v, ok := rs.Resource().Attributes().Get(string(semconv.ServiceNameKey)); ok {
			service = v.AsString()
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				tb := e.traces[s.TraceID()]
				if tb == nil {
					tb = &traceBuf{id: s.TraceID(), first: now}
					e.traces[tb.id] = tb
					e.order = append(e.order, tb)
				}
				if len(tb.spans) >= e.cfg.MaxSpansPerTrace {
					tb.dropped++
					continue
				}
				tb.spans = append(tb.spans, copySpan(service, s))
			}
		}
	}
	// Over the bound, the oldest traces are reported early.
	for len(e.traces) > e.cfg.MaxTraces {
		tb := e.popOldestLocked()
		if tb == nil {
			break
		}
		due = append(due, tb)
	}
	if e.cfg.TraceWait == 0 {
		for len(e.traces) > 0 {
			due = append(due, e.popOldestLocked())
		}
	}
	e.mu.Unlock()
	e.report(due)
	return nil
}

// popOldestLocked removes and returns the oldest trace still collected.
func (e *diagnosisExporter) popOldestLocked() *traceBuf {
	for len(e.order) > 0 {
		tb := e.order[0]
		e.order[0] = nil
		e.order = e.order[1:]
		if e.traces[tb.id] == tb {
			delete(e.traces, tb.id)
			return tb
		}
	}
	return nil
}

// flush reports every trace whose wait is over (all of them when final).
func (e *diagnosisExporter) flush(final bool) {
	now := e.now()
	var due []*traceBuf
	e.mu.Lock()
	for len(e.order) > 0 {
		tb := e.order[0]
		if e.traces[tb.id] != tb { // already reported
			e.order[0] = nil
			e.order = e.order[1:]
			continue
		}
		if !final && now.Sub(tb.first) < e.cfg.TraceWait {
			break
		}
		due = append(due, e.popOldestLocked())
	}
	e.mu.Unlock()
	e.report(due)
}

func (e *diagnosisExporter) report(due []*traceBuf) {
	for _, tb := range due {
		if tb == nil {
			continue
		}
		r, ok := diagnose(tb.id, tb.spans, e.cfg)
		if !ok {
			continue
		}
		r.SpansDropped = tb.dropped
		e.write(r)
		if e.emit != nil {
			e.emit(r)
		}
		if e.view != nil {
			e.view.add(r, tb.spans)
		}
	}
}

func (e *diagnosisExporter) write(r *Report) {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	if e.text != nil {
		if _, err := io.WriteString(e.text, r.Text()); err != nil {
			e.logger.Warn("writing diagnosis text", zap.Error(err))
		}
	}
	if e.jsonOut != nil {
		b, err := json.Marshal(r)
		if err == nil {
			_, err = e.jsonOut.Write(append(b, '\n'))
		}
		if err != nil {
			e.logger.Warn("writing diagnosis JSON", zap.Error(err))
		}
	}
}
