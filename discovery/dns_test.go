package discovery

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeResolver answers from maps; a missing name is NXDOMAIN.
type fakeResolver struct {
	ips    map[string][]netip.Addr // by "network host"
	srv    map[string][]*net.SRV   // by "service proto name"
	err    error                   // returned by every lookup when set
	block  bool                    // wait for ctx instead of answering
	lookup []string                // queries seen, in order
}

func (f *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	f.lookup = append(f.lookup, network+" "+host)
	if f.block {
		<-ctx.Done()
		return nil, &net.DNSError{Err: ctx.Err().Error(), Name: host, IsTimeout: true}
	}
	if f.err != nil {
		return nil, f.err
	}
	a, ok := f.ips[network+" "+host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return a, nil
}

func (f *fakeResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	f.lookup = append(f.lookup, "SRV "+service+" "+proto+" "+name)
	if f.err != nil {
		return "", nil, f.err
	}
	r, ok := f.srv[service+" "+proto+" "+name]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return name, r, nil
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

const svc = "shoal.ns.svc.cluster.local"

func TestDNSAddressRecords(t *testing.T) {
	t.Parallel()
	r := &fakeResolver{ips: map[string][]netip.Addr{
		"ip " + svc: addrs("10.0.0.2", "fd00::1", "::ffff:10.0.0.1", "10.0.0.2", "0.0.0.0"),
	}}
	d, err := NewDNS(DNSConfig{Name: svc, Resolver: r})
	require.NoError(t, err)
	got, err := d.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Peer{
		peer("10.0.0.1:9990", "10.0.0.1:9990"),
		peer("10.0.0.2:9990", "10.0.0.2:9990"),
		peer("[fd00::1]:9990", "[fd00::1]:9990"),
	}, got, "unmapped, deduplicated, unspecified dropped, default port, sorted")
	assert.Equal(t, []string{"ip " + svc}, r.lookup)
}

func TestDNSNetworkAndPort(t *testing.T) {
	t.Parallel()
	r := &fakeResolver{ips: map[string][]netip.Addr{"ip6 " + svc: addrs("fd00::2")}}
	d, err := NewDNS(DNSConfig{Name: svc, Network: "ip6", Port: 7946, Resolver: r})
	require.NoError(t, err)
	got, err := d.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Peer{peer("[fd00::2]:7946", "[fd00::2]:7946")}, got)
}

func TestDNSSRV(t *testing.T) {
	t.Parallel()
	r := &fakeResolver{
		srv: map[string][]*net.SRV{"gossip tcp " + svc: {
			{Target: "b.shoal.ns.svc.cluster.local.", Port: 7000},
			{Target: "a.shoal.ns.svc.cluster.local.", Port: 7001},
			{Target: "zero-port.", Port: 0},
		}},
		ips: map[string][]netip.Addr{
			"ip a.shoal.ns.svc.cluster.local": addrs("10.0.0.1"),
			"ip b.shoal.ns.svc.cluster.local": addrs("10.0.0.2", "fd00::2"),
		},
	}
	d, err := NewDNS(DNSConfig{Name: svc, SRV: true, Service: "gossip", Proto: "tcp", Resolver: r})
	require.NoError(t, err)
	got, err := d.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Peer{
		peer("a.shoal.ns.svc.cluster.local", "10.0.0.1:7001"),
		peer("b.shoal.ns.svc.cluster.local/10.0.0.2", "10.0.0.2:7000"),
		peer("b.shoal.ns.svc.cluster.local/fd00::2", "[fd00::2]:7000"),
	}, got)
}

func TestDNSNotFoundIsEmpty(t *testing.T) {
	t.Parallel()
	for _, srv := range []bool{false, true} {
		d, err := NewDNS(DNSConfig{Name: svc, SRV: srv, Resolver: &fakeResolver{}})
		require.NoError(t, err)
		got, err := d.Peers(t.Context())
		require.NoError(t, err)
		assert.Empty(t, got)
	}
}

func TestDNSErrors(t *testing.T) {
	t.Parallel()
	servfail := &net.DNSError{Err: "server misbehaving", Name: svc, IsTemporary: true}
	d, err := NewDNS(DNSConfig{Name: svc, Resolver: &fakeResolver{err: servfail}})
	require.NoError(t, err)
	_, err = d.Peers(t.Context())
	assert.ErrorIs(t, err, ErrDiscovery)
	assert.ErrorContains(t, err, "server misbehaving")
	assert.ErrorContains(t, err, svc)

	d, err = NewDNS(DNSConfig{Name: svc, Timeout: 20 * time.Millisecond, Resolver: &fakeResolver{block: true}})
	require.NoError(t, err)
	start := time.Now()
	_, err = d.Peers(t.Context())
	assert.ErrorIs(t, err, ErrUnreachable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second, "Timeout bounds the lookup")
}

func TestDNSConfigValidation(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]DNSConfig{
		"no name":          {},
		"blank name":       {Name: "  "},
		"bad network":      {Name: svc, Network: "tcp"},
		"negative timeout": {Name: svc, Timeout: -time.Second},
		"service w/o SRV":  {Name: svc, Service: "gossip"},
	} {
		_, err := NewDNS(cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig, name)
	}
}

func TestDNSDefaultResolverIsNet(t *testing.T) {
	t.Parallel()
	d, err := NewDNS(DNSConfig{Name: svc})
	require.NoError(t, err)
	assert.Same(t, net.DefaultResolver, d.cfg.Resolver)
}
