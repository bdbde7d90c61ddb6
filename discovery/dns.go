package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Resolver is the part of *net.Resolver that DNS uses; tests inject a fake.
type Resolver interface {
	// LookupNetIP looks up host's addresses; network is "ip", "ip4" or "ip6".
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	// LookupSRV looks up SRV records as net.Resolver.LookupSRV does.
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

var _ Resolver = (*net.Resolver)(nil)

// DNSConfig configures a DNS source. The zero value is not valid: Name is
// required.
type DNSConfig struct {
	// Name is the DNS name to resolve, usually a headless Service:
	// "shoal.my-namespace.svc.cluster.local". Required.
	Name string
	// Port is the gossip port of every address found by A/AAAA lookups.
	// Default 9990. Ignored with SRV, whose records carry the port.
	Port uint16
	// Network restricts A/AAAA lookups: "ip" (both, the default), "ip4"
	// or "ip6".
	Network string
	// SRV switches to an SRV lookup of _Service._Proto.Name; each target
	// is then resolved to its addresses. With a Kubernetes headless
	// Service, Service is the port's name ("gossip") and Proto "tcp" or
	// "udp". If both are empty, Name itself is looked up as an SRV name.
	SRV            bool
	Service, Proto string
	// Timeout bounds one Peers call in addition to its context. Default 5s.
	Timeout time.Duration
	// Resolver answers the queries. Default net.DefaultResolver.
	Resolver Resolver
}

// DNS is a Discoverer over the A/AAAA or SRV records of one name, such as a
// Kubernetes headless Service with publishNotReadyAddresses: true. DNS knows
// nothing of instance names: a peer's Name is its address (A/AAAA) or its
// SRV target. It is safe for concurrent use.
type DNS struct {
	cfg DNSConfig
}

var _ Discoverer = (*DNS)(nil)

// NewDNS validates cfg, fills in defaults and returns a DNS source. Invalid
// values return an error wrapping ErrInvalidConfig.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	cfg.Name = strings.TrimSpace(cfg.Name)
	if cfg.Name == "" {
		return nil, fmt.Errorf("%w: DNSConfig.Name is empty", ErrInvalidConfig)
	}
	switch cfg.Network {
	case "":
		cfg.Network = "ip"
	case "ip", "ip4", "ip6":
	default:
		return nil, fmt.Errorf("%w: DNSConfig.Network is %q, want \"ip\", \"ip4\" or \"ip6\"", ErrInvalidConfig, cfg.Network)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: DNSConfig.Timeout is negative (%s)", ErrInvalidConfig, cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = 5 * time.Second
	}
	if !cfg.SRV && (cfg.Service != "" || cfg.Proto != "") {
		return nil, fmt.Errorf("%w: DNSConfig.Service and Proto need SRV: true", ErrInvalidConfig)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	return &DNS{cfg: cfg}, nil
}

// Peers resolves the name and returns one peer per address, sorted by name.
// A name that does not exist (NXDOMAIN, as for a headless Service with no
// endpoints) is an empty set, not an error.
func (d *DNS) Peers(ctx context.Context) ([]Peer, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var (
		peers []Peer
		err   error
	)
	if d.cfg.SRV {
		peers, err = d.srvPeers(ctx)
	} else {
		peers, err = d.addrPeers(ctx, d.cfg.Name, d.cfg.Port, "")
	}
	if err != nil {
		return nil, err
	}
	sortPeers(peers)
	return peers, nil
}

func (d *DNS) addrPeers(ctx context.Context, host string, port uint16, name string) ([]Peer, error) {
	addrs, err := d.cfg.Resolver.LookupNetIP(ctx, d.cfg.Network, host)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, d.lookupError(ctx, "lookup "+d.cfg.Network+" "+host, err)
	}
	peers := make([]Peer, 0, len(addrs))
	seen := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() || a.IsUnspecified() || seen[a] {
			continue
		}
		seen[a] = true
		ap := netip.AddrPortFrom(a, port)
		peers = append(peers, Peer{Name: ap.String(), Addr: ap})
	}
	if name != "" {
		// An SRV target names one instance; only if it has several
		// addresses do they need telling apart.
		for i := range peers {
			if len(peers) == 1 {
				peers[i].Name = name
			} else {
				peers[i].Name = name + "/" + peers[i].Addr.Addr().String()
			}
		}
	}
	return peers, nil
}

func (d *DNS) srvPeers(ctx context.Context) ([]Peer, error) {
	_, records, err := d.cfg.Resolver.LookupSRV(ctx, d.cfg.Service, d.cfg.Proto, d.cfg.Name)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, d.lookupError(ctx, fmt.Sprintf("lookup SRV _%s._%s.%s", d.cfg.Service, d.cfg.Proto, d.cfg.Name), err)
	}
	var peers []Peer
	for _, r := range records {
		if r == nil || r.Port == 0 {
			continue
		}
		target := strings.TrimSuffix(r.Target, ".")
		found, err := d.addrPeers(ctx, target, r.Port, target)
		if err != nil {
			return nil, err
		}
		peers = append(peers, found...)
	}
	return peers, nil
}

// lookupError classifies a resolver error: a context that ended or a
// timeout means the resolver was unreachable, anything else that it
// answered with a failure.
func (d *DNS) lookupError(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w: dns %s: %w", ErrUnreachable, what, ctxErr)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsTimeout {
		return fmt.Errorf("%w: dns %s: %w", ErrUnreachable, what, err)
	}
	return fmt.Errorf("%w: dns %s: %w", ErrDiscovery, what, err)
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}
