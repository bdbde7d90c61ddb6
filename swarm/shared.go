package swarm

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// ErrInvalidName is returned when a value name is empty or too long.
var ErrInvalidName = errors.New("shoal/swarm: invalid value name")

// ErrClaimed is returned by Shared.Claim when another handle owns the value.
var ErrClaimed = errors.New("shoal/swarm: value is claimed by another handle")

// ErrConfigMismatch is returned when a name is registered again (by
// ShareConfig or a helper such as NewWindow or NewMap) with another
// configuration than the one it was first registered with. The message
// names both.
var ErrConfigMismatch = errors.New("shoal/swarm: configuration mismatch")

// maxNameLen bounds value names so that a name always leaves room for a
// delta in one packet.
const maxNameLen = 256

// Shared is a typed handle to a named CRDT value held by a Node and
// replicated to every node that shares the same name. T is the CRDT's
// pointer type, for example *crdt.GCounter. Updates are local and
// immediate; peers see them after the next flush (Config.FlushInterval) on
// the fast path, or by gossip. Safe for concurrent use.
type Shared[T crdt.Value[T]] struct {
	e *entry
	a *valueAdapter[T]
}

// Share registers the value name on n with the CRDT made by newValue (for
// this node's replica) and returns its handle. Values that peers sent for
// name before it was registered are merged now. Sharing a name twice with
// the same type returns a handle to the same value; with another type it
// fails with ErrTypeMismatch.
func Share[T crdt.Value[T]](n *Node, name string, newValue func(self crdt.Replica) T) (*Shared[T], error) {
	return ShareConfig(n, name, nil, newValue)
}

// ShareConfig is Share for a value whose construction depends on options
// (a window's length, a map's skew cap, a rate limit): config describes
// them, as a comparable value whose %v reads well (a small struct with a
// String method). Registering name again with a config that is not ==
// to the one it was first registered with fails with ErrConfigMismatch
// naming both, instead of handing out a value built for other options.
// A nil config (Share) is not compared; the first non-nil one is kept.
func ShareConfig[T crdt.Value[T]](n *Node, name string, config any, newValue func(self crdt.Replica) T) (*Shared[T], error) {
	if config != nil && !reflect.TypeOf(config).Comparable() {
		return nil, fmt.Errorf("%w: ShareConfig %q: config of type %T is not comparable", ErrInvalidConfig, name, config)
	}
	e, err := n.register(name, typeNameOf[T](), config, func() adapter {
		v := newValue(n.self)
		return &valueAdapter[T]{v: v, proto: protoOf(v), refused: func(c uint64) { n.skewRefused(name, c) }}
	})
	if err != nil {
		return nil, err
	}
	return &Shared[T]{e: e, a: e.a.(*valueAdapter[T])}, nil
}

func (n *Node) register(name, typeName string, config any, newAdapter func() adapter) (*entry, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	if name == "" || len(name) > maxNameLen {
		return nil, fmt.Errorf("%w: %q (1 to %d bytes)", ErrInvalidName, name, maxNameLen)
	}
	n.valuesMu.Lock()
	if e, ok := n.values[name]; ok {
		n.valuesMu.Unlock()
		if e.typeName != typeName {
			return nil, fmt.Errorf("%w: %q is registered as %s, not %s", ErrTypeMismatch, name, e.typeName, typeName)
		}
		return e, e.sameConfig(config)
	}
	e := &entry{name: name, typeName: typeName, node: n, a: newAdapter(), config: config}
	n.values[name] = e
	n.valuesMu.Unlock()
	if env, ok := n.takeRestored(name); ok {
		if err := n.mergeEnvelope(e, &env, false, nil); err != nil {
			n.stats.reject(rejectInvalid)
			n.warnLimited(rejectInvalid, "rejected a value from the snapshot", "value", name, "err", err)
		}
	}
	in := n.inbound()
	for _, env := range n.pending.take(name) {
		n.mergeOrHold(e, &env, false, in, "rejected a value held for registration")
	}
	return e, nil
}

// sameConfig checks a second registration's config against the entry's,
// adopting it if the entry has none yet.
func (e *entry) sameConfig(config any) error {
	if config == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.config == nil:
		e.config = config
	case e.config != config:
		return fmt.Errorf("%w: %q is registered with %v, not %v", ErrConfigMismatch, e.name, e.config, config)
	}
	return nil
}

// Name returns the value's name.
func (s *Shared[T]) Name() string { return s.e.name }

// Update applies fn to the local replica under the value's lock; now is the
// node's clock. fn must only make local updates (SetAt, Add, ...) and must
// not keep v. The change is sent at the next flush. Once Leave has started
// it returns ErrClosed without calling fn; an Update that returned nil is
// in Leave's last flush.
func (s *Shared[T]) Update(fn func(v T, now time.Time)) error {
	n := s.e.node
	if n.closed.Load() {
		return ErrClosed
	}
	return s.e.update(func() { fn(s.a.v, n.now()) })
}

// Read calls fn with the merged value under the value's lock. fn must not
// modify or keep v; copy what you need.
func (s *Shared[T]) Read(fn func(v T)) error {
	if s.e.node.closed.Load() {
		return ErrClosed
	}
	s.e.mu.Lock()
	if s.e.gone.Load() {
		s.e.mu.Unlock()
		return ErrUnshared
	}
	if s.e.prepare != nil {
		s.e.prepare()
	}
	fn(s.a.v)
	s.e.mu.Unlock()
	return nil
}

// Snapshot returns a deep copy of the merged value.
func (s *Shared[T]) Snapshot() (T, error) {
	var out T
	err := s.Read(func(v T) { out = v.Clone() })
	return out, err
}

// Subscribe returns a channel that receives a signal after the value
// changes (by a peer's update, or by a local update once it is flushed),
// and a function to cancel. Signals coalesce: the channel holds at most
// one, so a burst of changes wakes the reader once; read the value itself
// with Read. The gossip path never waits for the reader. The channel is
// closed when the node stops (at once if it already has); cancel does not
// close it.
func (s *Shared[T]) Subscribe() (<-chan struct{}, func()) {
	return s.e.subscribe()
}

// Claim makes the caller the value's only owner on this node, for handles
// that keep state of their own beside the CRDT (a rate limiter's pending
// admissions): two such handles on one value would each be blind to the
// other's local updates. It fails with ErrClaimed while another claim
// holds; release ends the claim (idempotent).
func (s *Shared[T]) Claim() (release func(), err error) {
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone.Load() {
		return nil, ErrUnshared
	}
	if e.claimed {
		return nil, fmt.Errorf("%w: %q", ErrClaimed, e.name)
	}
	e.claimed = true
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			e.claimed = false
			e.mu.Unlock()
		})
	}, nil
}
