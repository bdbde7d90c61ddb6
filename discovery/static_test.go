package discovery

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func peer(name, addr string) Peer {
	return Peer{Name: name, Addr: netip.MustParseAddrPort(addr)}
}

func TestStaticReturnsSortedCopy(t *testing.T) {
	t.Parallel()
	in := []Peer{peer("c", "10.0.0.3:9990"), peer("a", "10.0.0.1:9990"), peer("b", "[::ffff:10.0.0.2]:9990")}
	s, err := NewStatic(in...)
	require.NoError(t, err)
	in[0].Name = "changed after construction"

	got, err := s.Peers(t.Context())
	require.NoError(t, err)
	want := []Peer{peer("a", "10.0.0.1:9990"), peer("b", "10.0.0.2:9990"), peer("c", "10.0.0.3:9990")}
	assert.Equal(t, want, got)

	got[0].Name = "caller owns this slice"
	again, err := s.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, want, again)
}

func TestStaticEmptyIsValid(t *testing.T) {
	t.Parallel()
	s, err := NewStatic()
	require.NoError(t, err)
	got, err := s.Peers(t.Context())
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestStaticValidation(t *testing.T) {
	t.Parallel()
	tests := map[string][]Peer{
		"no address":        {{Name: "a"}},
		"empty name":        {{Addr: netip.MustParseAddrPort("10.0.0.1:1")}},
		"port zero":         {peer("a", "10.0.0.1:0")},
		"unspecified":       {peer("a", "0.0.0.0:9990")},
		"duplicate name":    {peer("a", "10.0.0.1:1"), peer("a", "10.0.0.2:1")},
		"duplicate address": {peer("a", "10.0.0.1:1"), peer("b", "10.0.0.1:1")},
	}
	for name, peers := range tests {
		_, err := NewStatic(peers...)
		assert.ErrorIs(t, err, ErrInvalidConfig, name)
	}
}

func TestStaticCanceledContext(t *testing.T) {
	t.Parallel()
	s, err := NewStatic(peer("a", "10.0.0.1:1"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.Peers(ctx)
	assert.ErrorIs(t, err, ErrUnreachable)
	assert.ErrorIs(t, err, context.Canceled)
}
