package discovery

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// DefaultPort is the gossip port that sources assume when their config
// leaves it zero.
const DefaultPort = 9990

// Peer is one instance of the service that a Discoverer found.
type Peer struct {
	// Name identifies the instance for people and logs. Sources that know
	// the instance's own name use it (the pod name for Kubernetes); others
	// use the address, or the DNS target name for SRV records.
	Name string
	// Addr is where the instance's gossip listener is reached.
	Addr netip.AddrPort
}

// String returns "name@addr", or just the address when the name is empty or
// is the address.
func (p Peer) String() string {
	if p.Name == "" || p.Name == p.Addr.String() {
		return p.Addr.String()
	}
	return p.Name + "@" + p.Addr.String()
}

// validate reports whether p can be dialled: a specified IP and a non-zero
// port.
func (p Peer) validate() error {
	switch {
	case !p.Addr.IsValid():
		return fmt.Errorf("%w: peer %q has no address", ErrInvalidConfig, p.Name)
	case p.Addr.Addr().IsUnspecified():
		return fmt.Errorf("%w: peer %q has the unspecified address %s", ErrInvalidConfig, p.Name, p.Addr.Addr())
	case p.Addr.Port() == 0:
		return fmt.Errorf("%w: peer %q has port 0", ErrInvalidConfig, p.Name)
	}
	return nil
}

// ParsePeer parses "ip:port" or "name=ip:port" into a Peer, as for a
// command-line flag. IPv6 addresses are written in brackets: "[::1]:9990".
// Without a name, the name is the address.
func ParsePeer(s string) (Peer, error) {
	name, addr, named := strings.Cut(s, "=")
	if !named {
		addr = name
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(addr))
	if err != nil {
		return Peer{}, fmt.Errorf("%w: peer %q: %w", ErrInvalidConfig, s, err)
	}
	p := Peer{Name: strings.TrimSpace(name), Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	if !named {
		p.Name = p.Addr.String()
	}
	if p.Name == "" {
		return Peer{}, fmt.Errorf("%w: peer %q has an empty name", ErrInvalidConfig, s)
	}
	if err := p.validate(); err != nil {
		return Peer{}, err
	}
	return p, nil
}

// Discoverer finds the current instances of a service.
//
// Peers returns the full current set, not a change since the last call; the
// set may include the calling instance itself. The result is sorted by Name
// and belongs to the caller, who may keep or modify it. Peers may block on
// I/O until ctx is done, and never longer: when ctx ends first, the error
// wraps both ErrUnreachable and ctx.Err(). Every other error wraps one of
// this package's sentinels (ErrDiscovery, ErrUnreachable, ErrUnauthorized,
// ErrForbidden, ErrInvalidConfig). An empty set with a nil error means that
// the source was asked and knows of no instance.
//
// Implementations are safe for concurrent use.
type Discoverer interface {
	Peers(ctx context.Context) ([]Peer, error)
}

// sortPeers orders peers by name, then address, so that every source returns
// a deterministic order.
func sortPeers(peers []Peer) {
	slices.SortFunc(peers, func(a, b Peer) int {
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
}

// unmapAddrPort turns an IPv4-mapped IPv6 address into plain IPv4, so that
// one instance has one spelling.
func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
