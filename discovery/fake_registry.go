package discovery

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// FakeRegistry is an in-memory Discoverer whose peers a test adds and removes
// while the code under test runs. Each test creates its own with
// NewFakeRegistry, so parallel tests never see each other's peers. It is safe
// for concurrent use.
type FakeRegistry struct {
	mu    sync.Mutex
	peers map[string]Peer // by name
	err   error           // returned by Peers while non-nil
	calls int
}

var _ Discoverer = (*FakeRegistry)(nil)

// NewFakeRegistry returns an empty registry.
func NewFakeRegistry() *FakeRegistry {
	return &FakeRegistry{peers: make(map[string]Peer)}
}

// Add registers peers, replacing any registered peer of the same name. Every
// peer is validated as by NewStatic; on an error nothing is added.
func (r *FakeRegistry) Add(peers ...Peer) error {
	for i, p := range peers {
		if p.Name == "" {
			return fmt.Errorf("%w: fake peer %d (%s) has an empty name", ErrInvalidConfig, i, p.Addr)
		}
		if err := p.validate(); err != nil {
			return fmt.Errorf("fake peer %d: %w", i, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range peers {
		p.Addr = unmapAddrPort(p.Addr)
		r.peers[p.Name] = p
	}
	return nil
}

// Remove unregisters the peers with these names; unknown names are ignored.
func (r *FakeRegistry) Remove(names ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range names {
		delete(r.peers, name)
	}
}

// SetError makes Peers return err (as it is, not wrapped) until it is called
// again with nil, to test how the caller handles a failing source.
func (r *FakeRegistry) SetError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Calls returns how many times Peers was called.
func (r *FakeRegistry) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// Peers returns the registered peers sorted by name, or the error set with
// SetError.
func (r *FakeRegistry) Peers(ctx context.Context) ([]Peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: fake registry: %w", ErrUnreachable, err)
	}
	if r.err != nil {
		return nil, r.err
	}
	peers := slices.Collect(maps.Values(r.peers))
	sortPeers(peers)
	return peers, nil
}
