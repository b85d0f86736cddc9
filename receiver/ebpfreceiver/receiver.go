package ebpfreceiver // import "github.com/crosshair-otel/crosshair/receiver/ebpfreceiver"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/internal/bootclock"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/probes"
)

type ebpfReceiver struct {
	cfg       *Config
	settings  receiver.Settings
	next      consumer.Logs
	telemetry *metadata.TelemetryBuilder

	// Set by Start, cleared by Shutdown.
	probes *probes.Set
	reader *ringbuf.Reader
	done   chan struct{}
	wg     sync.WaitGroup
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) (*ebpfReceiver, error) {
	return &ebpfReceiver{cfg: cfg, settings: set, next: next}, nil
}

func (r *ebpfReceiver) Start(_ context.Context, _ component.Host) error {
	clock, err := bootclock.New()
	if err != nil {
		return err
	}
	set, err := probes.Load(probes.Options{
		Enabled:         r.cfg.Probes,
		RingBufferBytes: uint32(r.cfg.RingBufferSize),
		Logger:          r.settings.Logger,
	})
	if err != nil {
		return fmt.Errorf("ebpf receiver: %w", err)
	}
	reader, err := ringbuf.NewReader(set.Events)
	if err != nil {
		_ = set.Close()
		return fmt.Errorf("ebpf receiver: open ring buffer: %w", err)
	}
	attached := int64(len(set.Attached()))
	tb, err := metadata.NewTelemetryBuilder(r.settings.TelemetrySettings)
	if err == nil {
		err = errors.Join(
			tb.RegisterReceiverEbpfEventsLostCallback(func(_ context.Context, o metric.Int64Observer) error {
				lost, err := set.LostByType()
				if err != nil {
					return err
				}
				for typ, n := range lost {
					o.Observe(int64(n), metric.WithAttributes(attribute.Int("event.type", int(typ))))
				}
				return nil
			}),
			tb.RegisterReceiverEbpfProbesAttachedCallback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(attached)
				return nil
			}),
		)
	}
	if err != nil {
		_ = reader.Close()
		_ = set.Close()
		return fmt.Errorf("ebpf receiver: telemetry: %w", err)
	}
	r.probes, r.reader, r.telemetry = set, reader, tb
	r.done = make(chan struct{})
	r.settings.Logger.Info("ebpf receiver started", zap.Strings("probes", set.Attached()), zap.Int("ring_buffer_size", r.cfg.RingBufferSize))

	r.wg.Add(1)
	go r.readLoop(&event.Decoder{Clock: clock})
	return nil
}

// readLoop drains the ring buffer into batches of log records, sending a
// batch when it is full or FlushInterval after its first record.
func (r *ebpfReceiver) readLoop(dec *event.Decoder) {
	defer r.wg.Done()
	ctx := context.Background()
	batch := plog.NewLogs()
	records := newRecordSlice(batch)
	var first time.Time
	flush := func() {
		if records.Len() == 0 {
			return
		}
		if err := r.next.ConsumeLogs(ctx, batch); err != nil {
			r.settings.Logger.Warn("next consumer refused kernel events", zap.Int("records", records.Len()), zap.Error(err))
		}
		batch = plog.NewLogs()
		records = newRecordSlice(batch)
	}
	var rec ringbuf.Record
	for {
		if records.Len() == 0 {
			r.reader.SetDeadline(time.Time{})
		} else {
			r.reader.SetDeadline(first.Add(r.cfg.FlushInterval))
		}
		err := r.reader.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			flush()
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			flush()
			return
		case err != nil:
			r.settings.Logger.Warn("read ring buffer", zap.Error(err))
			continue
		}
		if records.Len() == 0 {
			first = time.Now()
		}
		typ, err := dec.Decode(rec.RawSample, records)
		if err != nil {
			r.telemetry.ReceiverEbpfDecodeErrors.Add(ctx, 1, metric.WithAttributes(attribute.Int("event.type", int(typ))))
			r.settings.Logger.Debug("decode kernel event", zap.Error(err))
			continue
		}
		r.telemetry.ReceiverEbpfEventsDecoded.Add(ctx, 1, metric.WithAttributes(attribute.String("event.name", records.At(records.Len()-1).EventName())))
		if records.Len() >= r.cfg.MaxBatchSize {
			flush()
		}
	}
}

func newRecordSlice(l plog.Logs) plog.LogRecordSlice {
	rl := l.ResourceLogs().AppendEmpty()
	if host, err := os.Hostname(); err == nil {
		rl.Resource().Attributes().PutStr("host.name", host)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	return sl.LogRecords()
}

func (r *ebpfReceiver) Shutdown(context.Context) error {
	if r.reader == nil {
		return nil
	}
	// Closing the reader unblocks ReadInto; the loop flushes what it holds.
	err := r.reader.Close()
	r.wg.Wait()
	err = errors.Join(err, r.probes.Close())
	r.telemetry.Shutdown()
	r.probes, r.reader, r.telemetry = nil, nil, nil
	return err
}
