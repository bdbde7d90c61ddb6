package swarm

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNotShared is returned by Node.Unshare for a name this node does not
// share.
var ErrNotShared = errors.New("shoal/swarm: value is not shared")

// ErrUnshared is returned by every call on a value's handles after
// Node.Unshare removed the value. It wraps ErrClosed, so code that treats
// a closed value as gone (errors.Is(err, ErrClosed)) needs no change.
var ErrUnshared = fmt.Errorf("shoal/swarm: value was unshared: %w", ErrClosed)

// Unshare stops sharing the value name on this node and frees it: the
// value leaves the node's values (so anti-entropy, snapshots, expiry and
// retirement no longer see it), its gossip accumulations leave the outbox,
// its subscribers' channels are closed, and its CRDT state is released
// even while handles to it remain: every handle then answers ErrUnshared.
// It returns ErrNotShared (wrapped) if name is not shared, ErrClosed
// once the node is closed.
//
// What Unshare does not do: it tells no peer. Peers that share name keep
// their copy (and their writes) until they Unshare it too; anti-entropy
// and their gossip keep offering it to this node, where it goes to the
// bounded store for unregistered names (Config.MaxPendingBytes, evictions
// counted in Stats.Drops) as for any name this node has not registered.
// Gossip messages already queued for name (encoded bytes, bounded by
// Config.MaxBroadcastQueueBytes) run their course. A later Share of name
// starts from an empty value, merged with whatever that store holds for
// it, as any first registration is.
//
// It may race with updates on the value's handles: each update either
// completes before Unshare takes the value's lock (and may still be
// gossiped by a flush in progress) or fails with ErrUnshared; a
// Counter.Add racing Unshare may return nil and be discarded.
func (n *Node) Unshare(name string) error {
	if n.closed.Load() {
		return ErrClosed
	}
	n.valuesMu.Lock()
	e, ok := n.values[name]
	if ok {
		delete(n.values, name)
	}
	n.valuesMu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotShared, name)
	}
	e.mu.Lock()
	e.gone.Store(true)
	e.a.release()
	e.prepare, e.handle = nil, nil
	e.mu.Unlock()
	// After gone is set: an outbox.add in flight either ran before this
	// (and its slot is dropped here) or sees gone and adds nothing.
	n.out.drop(name)
	n.dirtyMu.Lock()
	n.dirty = slices.DeleteFunc(n.dirty, func(d *entry) bool { return d == e })
	n.dirtyMu.Unlock()
	e.closeSubs()
	return nil
}

// drop removes every accumulation of the value name (all origins).
func (o *outbox) drop(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k := range o.slots {
		if k.name == name {
			delete(o.slots, k)
		}
	}
}

// release lets go of the CRDT state: v becomes the zero T (a nil
// pointer), so that handles the program still holds keep nothing alive.
// Called with the entry locked and gone set; every path to v checks gone
// first.
func (a *valueAdapter[T]) release() {
	var zero T
	a.v = zero
}

// usable returns ErrClosed once the node is closed and ErrUnshared once
// the value was unshared; nil otherwise. Called with e.mu held for the
// authoritative answer (gone only changes under it).
func (e *entry) usable() error {
	if e.gone.Load() {
		return ErrUnshared
	}
	if e.node.closed.Load() {
		return ErrClosed
	}
	return nil
}
