package probes

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/crosshair-otel/crosshair/internal/contract"
)

const conntrackHeader = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"

// row builds one per-CPU row with the given insert_failed, drop, early_drop.
func conntrackRow(insertFailed, drop, earlyDrop uint64) string {
	f := make([]string, 17)
	for i := range f {
		f[i] = "00000001"
	}
	f[9] = strconv.FormatUint(insertFailed, 16)
	f[10] = strconv.FormatUint(drop, 16)
	f[11] = strconv.FormatUint(earlyDrop, 16)
	return strings.Join(f, " ") + "\n"
}

func TestParseConntrackStats(t *testing.T) {
	st, err := ParseConntrackStats([]byte(conntrackHeader + conntrackRow(0x10, 2, 1) + conntrackRow(0xff, 3, 0)))
	require.NoError(t, err)
	assert.Equal(t, ConntrackStats{InsertFailed: 0x10f, Drop: 5, EarlyDrop: 1}, st)

	for name, in := range map[string]string{
		"empty":      "",
		"no rows":    conntrackHeader,
		"no columns": "entries found\n00000000 00000000\n",
		"short row":  conntrackHeader + "00000000 00000000\n",
		"not hex":    conntrackHeader + strings.Replace(conntrackRow(1, 0xabc, 1), "abc", "zz", 1),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConntrackStats([]byte(in))
			assert.Error(t, err)
		})
	}
}

// The probe emits kernel.conntrack.insert_failed when the counter rises,
// and nothing while it stays.
func TestConntrackInsertFailedEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nf_conntrack")
	write := func(insertFailed uint64) {
		require.NoError(t, os.WriteFile(path, []byte(conntrackHeader+conntrackRow(insertFailed, 0, 0)+conntrackRow(1, 0, 0)), 0o600))
	}
	write(4)
	a, err := attachConntrack(&attachEnv{logger: zap.NewNop(), options: Options{ConntrackStatPath: path}})
	require.NoError(t, err)

	logs := plog.NewLogRecordSlice()
	now := time.Now()
	require.NoError(t, a.PollEvents(now, logs))
	assert.Equal(t, 0, logs.Len(), "no rise, no event")

	write(7)
	require.NoError(t, a.PollEvents(now, logs))
	require.Equal(t, 1, logs.Len())
	lr := logs.At(0)
	assert.Equal(t, contract.EventConntrackInsertFailed, lr.EventName())
	assert.Equal(t, map[string]any{
		contract.AttrConntrackInsertFailed: int64(3),
		contract.AttrIsolationLayer:        contract.LayerL3,
	}, lr.Attributes().AsRaw())
	assert.Equal(t, now.UnixNano(), lr.Timestamp().AsTime().UnixNano())
}

func TestConntrackAbsentDisablesProbe(t *testing.T) {
	_, err := attachConntrack(&attachEnv{logger: zap.NewNop(), options: Options{ConntrackStatPath: filepath.Join(t.TempDir(), "absent")}})
	require.ErrorContains(t, err, "nf_conntrack is not loaded")
}
