package probes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crosshair-otel/crosshair/internal/contract"
	"github.com/crosshair-otel/crosshair/internal/layers"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

// DefaultConntrackStatPath is the per-CPU conntrack statistics file of the
// collector's network namespace (the node's, with hostNetwork).
const DefaultConntrackStatPath = "/proc/net/stat/nf_conntrack"

// ConntrackStats is one reading of the conntrack statistics, summed over CPUs.
type ConntrackStats struct {
	InsertFailed uint64
	Drop         uint64
	EarlyDrop    uint64
}

// ParseConntrackStats reads /proc/net/stat/nf_conntrack: a header naming the
// columns, then one row of hexadecimal counters per CPU.
func ParseConntrackStats(data []byte) (ConntrackStats, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() {
		return ConntrackStats{}, errors.New("conntrack stats: empty file")
	}
	cols := map[string]int{}
	for i, name := range strings.Fields(sc.Text()) {
		cols[name] = i
	}
	for _, need := range []string{"insert_failed", "drop", "early_drop"} {
		if _, ok := cols[need]; !ok {
			return ConntrackStats{}, fmt.Errorf("conntrack stats: no %q column in header %q", need, sc.Text())
		}
	}
	var st ConntrackStats
	rows := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != len(cols) {
			return ConntrackStats{}, fmt.Errorf("conntrack stats: row %d has %d columns, header %d", rows+1, len(fields), len(cols))
		}
		get := func(name string) (uint64, error) {
			v, err := strconv.ParseUint(fields[cols[name]], 16, 64)
			if err != nil {
				return 0, fmt.Errorf("conntrack stats: row %d column %s: %w", rows+1, name, err)
			}
			return v, nil
		}
		var vals [3]uint64
		for i, name := range []string{"insert_failed", "drop", "early_drop"} {
			v, err := get(name)
			if err != nil {
				return ConntrackStats{}, err
			}
			vals[i] = v
		}
		st.InsertFailed += vals[0]
		st.Drop += vals[1]
		st.EarlyDrop += vals[2]
		rows++
	}
	if rows == 0 {
		return ConntrackStats{}, errors.New("conntrack stats: no per-CPU rows")
	}
	return st, sc.Err()
}

// conntrackSource polls the statistics file; PollEvents and CollectMetrics
// run on different goroutines, so the last reading is guarded.
type conntrackSource struct {
	path string
	mu   sync.Mutex
	last ConntrackStats
}

func (c *conntrackSource) read() (ConntrackStats, error) {
	data, err := os.ReadFile(c.path)
	if err != nil {
		return ConntrackStats{}, err
	}
	return ParseConntrackStats(data)
}

func attachConntrack(env *attachEnv) (*Attachment, error) {
	path := env.options.ConntrackStatPath
	if path == "" {
		path = DefaultConntrackStatPath
	}
	c := &conntrackSource{path: path}
	first, err := c.read()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is absent: nf_conntrack is not loaded in this network namespace", path)
	}
	if err != nil {
		return nil, err
	}
	c.last = first
	return &Attachment{
		PollEvents: func(now time.Time, logs plog.LogRecordSlice) error {
			st, err := c.read()
			if err != nil {
				return err
			}
			c.mu.Lock()
			prev := c.last
			c.last = st
			c.mu.Unlock()
			if st.InsertFailed <= prev.InsertFailed {
				return nil
			}
			delta := st.InsertFailed - prev.InsertFailed
			lr := appendWarnRecord(logs, now, contract.EventConntrackInsertFailed)
			a := lr.Attributes()
			a.PutInt(contract.AttrConntrackInsertFailed, int64(delta))
			a.PutStr(contract.AttrIsolationLayer, layers.Of(&layers.Facts{Event: contract.EventConntrackInsertFailed}))
			lr.Body().SetStr(fmt.Sprintf("conntrack: %d insertions failed (total %d)", delta, st.InsertFailed))
			return nil
		},
		CollectMetrics: func(now pcommon.Timestamp, mb *metadata.MetricsBuilder) error {
			st, err := c.read()
			if err != nil {
				return err
			}
			mb.RecordKernelConntrackInsertFailedDataPoint(now, int64(st.InsertFailed))
			mb.RecordKernelConntrackDropsDataPoint(now, int64(st.Drop+st.EarlyDrop))
			return nil
		},
	}, nil
}
