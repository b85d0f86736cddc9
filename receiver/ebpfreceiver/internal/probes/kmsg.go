package probes

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// Keyword maps a kernel/runtime log pattern to the layer it is evidence of.
type Keyword struct {
	// Pattern is a case-insensitive regular expression.
	Pattern string `mapstructure:"pattern"`
	// Layer is L0–L4.
	Layer string `mapstructure:"layer"`
}

// DefaultKeywords is docs/design.md §1's keyword table, as data.
var DefaultKeywords = []Keyword{
	// L0 hardware assist / hardware.
	{`EPT violation`, contract.LayerL0},
	{`VMX operation`, contract.LayerL0},
	{`SEV initialization failed`, contract.LayerL0},
	{`VF reset`, contract.LayerL0},
	{`Machine check|mce: \[Hardware Error\]|Hardware Error`, contract.LayerL0},
	{`I/O error, dev`, contract.LayerL0},
	// L1 full virtualization.
	{`VMCS corruption`, contract.LayerL1},
	{`QEMU process crashed`, contract.LayerL1},
	{`vMotion failed`, contract.LayerL1},
	{`VMWP.*stopped`, contract.LayerL1},
	// L2 paravirtualization.
	{`virtio_net.*tx timeout`, contract.LayerL2},
	{`virtio.*(queue stall|timeout)`, contract.LayerL2},
	{`grant table error`, contract.LayerL2},
	{`event channel broken`, contract.LayerL2},
	{`VMBus initialization failed`, contract.LayerL2},
	// L3 container.
	{`OOMKilled|Memory cgroup out of memory`, contract.LayerL3},
	{`ContainerCreating`, contract.LayerL3},
	{`seccomp: Operation not permitted`, contract.LayerL3},
	{`namespace creation failed`, contract.LayerL3},
	{`nf_conntrack: table full`, contract.LayerL3},
	// L4 sandbox.
	{`Sentry syscall denied`, contract.LayerL4},
	{`Gofer broken pipe`, contract.LayerL4},
	{`Kata shimv2 timeout`, contract.LayerL4},
	{`WASI operation not permitted`, contract.LayerL4},
}

// ValidLayer says whether s names an isolation layer a keyword may map to.
func ValidLayer(s string) bool {
	switch s {
	case contract.LayerL0, contract.LayerL1, contract.LayerL2, contract.LayerL3, contract.LayerL4:
		return true
	}
	return false
}

type compiledKeyword struct {
	re    *regexp.Regexp
	layer string
	text  string
}

// KeywordTable matches log lines to layers, first match wins; extra
// keywords come first so configuration can override the defaults.
type KeywordTable []compiledKeyword

// NewKeywordTable compiles extra followed by DefaultKeywords.
func NewKeywordTable(extra []Keyword) (KeywordTable, error) {
	var t KeywordTable
	for i, k := range append(append([]Keyword{}, extra...), DefaultKeywords...) {
		if !ValidLayer(k.Layer) {
			return nil, fmt.Errorf("keyword %d (%q): layer %q is not one of L0–L4", i, k.Pattern, k.Layer)
		}
		re, err := regexp.Compile("(?i)" + k.Pattern)
		if err != nil {
			return nil, fmt.Errorf("keyword %d: %w", i, err)
		}
		t = append(t, compiledKeyword{re: re, layer: k.Layer, text: k.Pattern})
	}
	return t, nil
}

// Match returns the layer and the matched text of line.
func (t KeywordTable) Match(line string) (layer, keyword string, ok bool) {
	for _, k := range t {
		if m := k.re.FindString(line); m != "" {
			return k.layer, m, true
		}
	}
	return "", "", false
}

// KmsgRecord is one /dev/kmsg record: "prio,seq,usec,flags;message".
type KmsgRecord struct {
	Priority int
	Seq      uint64
	BootUs   uint64 // the kernel's timestamp, microseconds since boot
	Message  string
}

// ParseKmsg parses one record read from /dev/kmsg (continuation lines,
// which start with a space, are dropped).
func ParseKmsg(raw []byte) (KmsgRecord, bool) {
	head, msg, ok := strings.Cut(string(raw), ";")
	if !ok {
		return KmsgRecord{}, false
	}
	f := strings.SplitN(head, ",", 4)
	if len(f) < 3 {
		return KmsgRecord{}, false
	}
	prio, err1 := strconv.Atoi(f[0])
	seq, err2 := strconv.ParseUint(f[1], 10, 64)
	us, err3 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return KmsgRecord{}, false
	}
	msg, _, _ = strings.Cut(msg, "\n")
	return KmsgRecord{Priority: prio, Seq: seq, BootUs: us, Message: msg}, true
}

type kernelLog struct {
	fd    int // raw, non-blocking (os.File.Fd would switch it to blocking)
	table KeywordTable
	clock interface{ Wall(uint64) time.Time }

	mu      sync.Mutex
	matches map[string]int64
	buf     []byte
	// lastSeq is the sequence number of the last record read; a jump is
	// records the kernel overwrote before they were read.
	lastSeq     uint64
	overwritten int64
}

func attachKernelLog(env *attachEnv) (*Attachment, error) {
	table, err := NewKeywordTable(env.host.ExtraKeywords)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Open(env.host.KmsgPath, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", env.host.KmsgPath, err)
	}
	// Start at the end: lines logged before start are history.
	if _, err := syscall.Seek(fd, 0, io.SeekEnd); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("seek %s: %w", env.host.KmsgPath, err)
	}
	k := &kernelLog{fd: fd, table: table, clock: env.host.Clock, matches: map[string]int64{}, buf: make([]byte, 8192)}
	return &Attachment{
		closers:    []io.Closer{k},
		PollEvents: k.poll,
		Missed: func() map[string]int64 {
			k.mu.Lock()
			defer k.mu.Unlock()
			return map[string]int64{"kmsg_overwritten": k.overwritten}
		},
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			k.mu.Lock()
			defer k.mu.Unlock()
			for layer, n := range k.matches {
				mb.RecordKernelLogMatchesDataPoint(now, n, layer)
			}
			return nil
		},
	}, nil
}

// Close releases the kernel log.
func (k *kernelLog) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fd < 0 {
		return nil
	}
	err := syscall.Close(k.fd)
	k.fd = -1
	return err
}

// poll reads every record logged since the last call (each read of
// /dev/kmsg returns one record; EAGAIN when none is left).
func (k *kernelLog) poll(now time.Time, logs plog.LogRecordSlice) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fd < 0 {
		return nil
	}
	for {
		n, err := syscall.Read(k.fd, k.buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return nil
		case errors.Is(err, syscall.EPIPE):
			continue // records overwritten before we read them: skip ahead
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("read kernel log: %w", err)
		case n <= 0:
			return nil
		}
		rec, ok := ParseKmsg(k.buf[:n])
		if ok {
			if k.lastSeq != 0 && rec.Seq > k.lastSeq+1 {
				k.overwritten += int64(rec.Seq - k.lastSeq - 1)
			}
			k.lastSeq = rec.Seq
		}
		if !ok || !KernelWritten(rec) {
			continue // a user-space write to /dev/kmsg is no kernel evidence
		}
		text := TrustedText(rec.Message)
		layer, kw, ok := k.table.Match(text)
		if !ok || text == "" {
			continue
		}
		k.matches[layer]++
		appendKernelLog(logs, now, k.clock, rec, layer, kw, LinePID(text), LineDevice(text))
	}
}

// appendKernelLog writes one kernel.log record; pid and dev say whom the
// line concerns (0 and "": nobody the join can place, see kmsgtrust.go).
func appendKernelLog(logs plog.LogRecordSlice, now time.Time, clock interface{ Wall(uint64) time.Time }, rec KmsgRecord, layer, kw string, pid int64, dev string) {
	lr := logs.AppendEmpty()
	ts := now
	if clock != nil {
		// The kmsg timestamp is the kernel's local clock (monotonic, no
		// suspend time); it equals boot time on a server that never slept.
		ts = clock.Wall(rec.BootUs * 1000)
	}
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	lr.SetEventName(contract.EventKernelLog)
	sev := plog.SeverityNumberInfo
	switch p := rec.Priority & 7; {
	case p <= 3:
		sev = plog.SeverityNumberError
	case p == 4:
		sev = plog.SeverityNumberWarn
	}
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(sev.String())
	a := lr.Attributes()
	a.PutStr(contract.AttrIsolationLayer, layer)
	a.PutStr(contract.AttrLogKeyword, kw)
	a.PutInt(contract.AttrLogFacility, int64(rec.Priority>>3))
	if pid > 0 {
		a.PutInt(contract.AttrProcessPID, pid)
	}
	if dev != "" {
		a.PutStr(contract.AttrLogDevice, dev)
	}
	lr.Body().SetStr(rec.Message)
}
