package httplimit_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm/ratelimit/httplimit"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"no proxies: the peer", "192.0.2.1:5000", []string{"203.0.113.9"}, nil, "192.0.2.1"},
		{"untrusted peer: header ignored", "192.0.2.1:5000", []string{"203.0.113.9"}, proxies, "192.0.2.1"},
		{"trusted peer: rightmost untrusted", "10.0.0.1:5000", []string{"198.51.100.1, 203.0.113.9, 10.0.0.2"}, proxies, "203.0.113.9"},
		{"several header lines", "10.0.0.1:5000", []string{"198.51.100.1", "203.0.113.9, 10.1.1.1"}, proxies, "203.0.113.9"},
		{"all trusted: the leftmost", "10.0.0.1:5000", []string{"10.9.9.9, 10.0.0.2"}, proxies, "10.9.9.9"},
		{"no header: the peer", "10.0.0.1:5000", nil, proxies, "10.0.0.1"},
		{"garbage stops the walk", "10.0.0.1:5000", []string{"203.0.113.9, nonsense, 10.0.0.2"}, proxies, "10.0.0.2"},
		{"IPv6 peer and hops", "[2001:db8::1]:443", []string{"2001:db8::7, 2a00::5, 2001:db8::2"}, proxies, "2a00::5"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:5000", []string{"203.0.113.9"}, proxies, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, err := httplimit.ClientIP(tc.trusted...)(r)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "@"
	_, err := httplimit.ClientIP()(r)
	assert.ErrorIs(t, err, httplimit.ErrNoKey)
}

func TestHeaderAndJoin(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	_, err := httplimit.Header("x-api-key")(r)
	require.ErrorIs(t, err, httplimit.ErrNoKey)
	r.Header.Set("X-Api-Key", "abc")
	r.RemoteAddr = "192.0.2.1:1"
	k, err := httplimit.Join(httplimit.Header("x-api-key"), httplimit.ClientIP())(r)
	require.NoError(t, err)
	assert.Equal(t, "abc\x00192.0.2.1", k)
}
