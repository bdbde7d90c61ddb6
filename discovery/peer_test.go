package discovery

import (
	"errors"
	"net/netip"
	"strings"
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

// FuzzParsePeer checks that ParsePeer never panics, that what it accepts is
// valid, and that a peer printed as name=addr parses back to itself.
func FuzzParsePeer(f *testing.F) {
	for _, s := range []string{"10.0.0.1:9990", "a=10.0.0.1:9990", "b=[fd00::1]:1", "[::ffff:1.2.3.4]:5", "=:", "a=b=c", "[fe80::1%eth0]:9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeer(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("ParsePeer(%q) error %v does not wrap ErrInvalidConfig", s, err)
			}
			return
		}
		if err := p.validate(); err != nil || p.Name == "" {
			t.Fatalf("ParsePeer(%q) = %+v, invalid: %v", s, p, err)
		}
		if strings.Contains(p.Name, "=") {
			return // a name with "=" cannot round-trip through "name=addr"
		}
		again, err := ParsePeer(p.Name + "=" + p.Addr.String())
		if err != nil || again != p {
			t.Fatalf("round trip of %+v: %+v, %v", p, again, err)
		}
	})
}
