package ebpfreceiver

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/event"
	"github.com/crosshair-otel/crosshair/receiver/ebpfreceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := createDefaultConfig()
	custom.Probes = []string{"tcp_retransmit"}
	custom.RingBufferSize = 8 << 20
	custom.FlushInterval = 50 * time.Millisecond
	custom.MaxBatchSize = 256
	custom.TCPAcceptOwnerHooks = true
	custom.EventNameAttribute = true

	filtered := createDefaultConfig()
	filtered.Filters = FilterConfig{Ports: []int{443, 8080}, Addresses: []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}}
	filtered.SKBDropEventsPerSecond = 50

	dropIgnore := createDefaultConfig()
	dropIgnore.SKBDropIgnoreReasons = []string{"QUEUE_PURGE", "SKB_DROP_REASON_TCP_OLD_DATA"}
	dropIgnoreNone := createDefaultConfig()
	dropIgnoreNone.SKBDropIgnoreReasons = []string{}

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig()},
		{id: component.NewIDWithName(metadata.Type, "custom"), want: custom},
		{id: component.NewIDWithName(metadata.Type, "unknown_probe"), wantErr: `probes[1]: unknown probe "tcp_teleport"`},
		{id: component.NewIDWithName(metadata.Type, "bad_ring"), wantErr: "ring_buffer_size: must be a power of two"},
		{id: component.NewIDWithName(metadata.Type, "negative_flush"), wantErr: "flush_interval: must be positive, got -1s"},
		{id: component.NewIDWithName(metadata.Type, "filters"), want: filtered},
		{id: component.NewIDWithName(metadata.Type, "bad_port"), wantErr: "filters.ports[1]: must be 1-65535, got 70000"},
		{id: component.NewIDWithName(metadata.Type, "bad_cidr"), wantErr: `filters.addresses[1]: not an address or CIDR prefix: "10.0.0.0/99"`},
		{id: component.NewIDWithName(metadata.Type, "bad_drop_rate"), wantErr: "skb_drop_events_per_second: must be positive, got 0"},
		{id: component.NewIDWithName(metadata.Type, "drop_ignore"), want: dropIgnore},
		{id: component.NewIDWithName(metadata.Type, "drop_ignore_none"), want: dropIgnoreNone},
		{id: component.NewIDWithName(metadata.Type, "bad_drop_reason"), wantErr: `skb_drop_ignore_reasons[1]: not a drop reason name (upper case, e.g. QUEUE_PURGE): "queue-purge"`},
		{id: component.NewIDWithName(metadata.Type, "dup_drop_reason"), wantErr: `skb_drop_ignore_reasons[1]: "SKB_DROP_REASON_QUEUE_PURGE" listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultSKBDropIgnoreReasons(t *testing.T) {
	cfg := createDefaultConfig()
	assert.Subset(t, cfg.SKBDropIgnoreReasons, []string{"QUEUE_PURGE", "SOCKET_CLOSE", "TCP_CLOSE", "TCP_OLD_DATA", "TCP_OLD_SEQUENCE"})
	for _, loss := range []string{"NETFILTER_DROP", "NO_SOCKET", "NOT_SPECIFIED", "QDISC_DROP", "TC_DROP", "DEV_READY", "FULL_RING"} {
		assert.NotContains(t, cfg.SKBDropIgnoreReasons, loss, "%s is loss, not socket life", loss)
	}
	cfg.SKBDropIgnoreReasons[0] = "X"
	assert.Equal(t, "QUEUE_PURGE", DefaultSKBDropIgnoreReasons[0], "the default is copied, not shared")
}

func TestFilterMatcher(t *testing.T) {
	tuple := func(local, peer string) event.Tuple {
		return event.Tuple{Local: netip.MustParseAddrPort(local), Peer: netip.MustParseAddrPort(peer)}
	}
	assert.Nil(t, FilterConfig{}.matcher(), "no filter keeps everything without a check")
	m := FilterConfig{Ports: []int{443}, Addresses: []string{"10.0.0.0/8", "::ffff:192.0.2.0/120"}}.matcher()
	tests := []struct {
		name        string
		local, peer string
		want        bool
	}{
		{"peer port and address", "172.16.0.1:40000", "10.1.2.3:443", true},
		{"local port, local address", "10.0.0.1:443", "172.16.0.9:5000", true},
		{"port but no address", "172.16.0.1:40000", "172.16.0.2:443", false},
		{"address but no port", "10.0.0.1:40000", "10.0.0.2:80", false},
		{"mapped prefix matches IPv4", "172.16.0.1:40000", "192.0.2.9:443", true},
		{"IPv6 outside", "[2001:db8::1]:443", "[2001:db8::2]:5000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, m(tuple(tt.local, tt.peer)))
		})
	}
}
