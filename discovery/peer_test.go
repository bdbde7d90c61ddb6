package discovery

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePeer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Peer
	}{
		{"10.0.0.1:9990", Peer{Name: "10.0.0.1:9990", Addr: netip.MustParseAddrPort("10.0.0.1:9990")}},
		{"a=10.0.0.1:9990", Peer{Name: "a", Addr: netip.MustParseAddrPort("10.0.0.1:9990")}},
		{" b = [fd00::1]:7946", Peer{Name: "b", Addr: netip.MustParseAddrPort("[fd00::1]:7946")}},
		{"[::ffff:10.0.0.2]:1", Peer{Name: "10.0.0.2:1", Addr: netip.MustParseAddrPort("10.0.0.2:1")}},
	}
	for _, tt := range tests {
		got, err := ParsePeer(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	for _, bad := range []string{"", "10.0.0.1", "host:9990", "=10.0.0.1:1", "10.0.0.1:0", "0.0.0.0:9990", "[::]:1", "a=b=c"} {
		_, err := ParsePeer(bad)
		assert.ErrorIs(t, err, ErrInvalidConfig, "%q", bad)
	}
}

func TestPeerString(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort("[fd00::1]:9990")
	assert.Equal(t, "pod-a@[fd00::1]:9990", Peer{Name: "pod-a", Addr: ap}.String())
	assert.Equal(t, "[fd00::1]:9990", Peer{Addr: ap}.String())
	assert.Equal(t, "[fd00::1]:9990", Peer{Name: "[fd00::1]:9990", Addr: ap}.String())
}
