package discovery

import (
	"context"
	"fmt"
	"slices"
)

// Static is a Discoverer over a fixed list of peers, for tests, for
// development on one machine, and for deployments whose members are known in
// advance. It is safe for concurrent use.
type Static struct {
	peers []Peer // sorted, validated, never modified after construction
}

var _ Discoverer = (*Static)(nil)

// NewStatic returns a Static that always returns peers. Every peer must have
// a non-empty name, a specified IP and a non-zero port, and no two peers may
// share a name or an address; otherwise the error wraps ErrInvalidConfig.
// An empty list is valid: the instance then starts alone.
func NewStatic(peers ...Peer) (*Static, error) {
	owned := slices.Clone(peers)
	names := make(map[string]bool, len(owned))
	for i := range owned {
		p := &owned[i]
		if p.Name == "" {
			return nil, fmt.Errorf("%w: static peer %d (%s) has an empty name", ErrInvalidConfig, i, p.Addr)
		}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("static peer %d: %w", i, err)
		}
		if names[p.Name] {
			return nil, fmt.Errorf("%w: static peer name %q appears twice", ErrInvalidConfig, p.Name)
		}
		names[p.Name] = true
		p.Addr = unmapAddrPort(p.Addr)
	}
	sortPeers(owned)
	for i := 1; i < len(owned); i++ {
		if owned[i].Addr == owned[i-1].Addr {
			return nil, fmt.Errorf("%w: static peers %q and %q share the address %s", ErrInvalidConfig, owned[i-1].Name, owned[i].Name, owned[i].Addr)
		}
	}
	return &Static{peers: owned}, nil
}

// Peers returns a copy of the fixed list, sorted by name. It fails only when
// ctx is already done.
func (s *Static) Peers(ctx context.Context) ([]Peer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: static peers: %w", ErrUnreachable, err)
	}
	return slices.Clone(s.peers), nil
}
