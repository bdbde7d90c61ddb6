package swarm

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// wire is a CRDT wire state (a delta, an effect or a full state) behind the
// non-generic engine; only the value's own adapter looks inside it.
type wire any

// adapter is what the engine knows of a value's type: the generic
// valueAdapter[T] implements it, so the engine itself is not generic.
// Every method except encode and decode is called with the entry locked.
type adapter interface {
	typeName() string
	takeDelta() (wire, bool)
	merge(now time.Time, w wire) (effect wire, changed bool)
	clone() wire
	// accumulate merges w into acc (a wire state owned by the outbox) and
	// returns the result; acc nil means w alone (copied).
	accumulate(now time.Time, acc, w wire) wire
	// check reports whether w may be merged within b; a non-zero origin
	// binds w to origin's slots (see crdt.Bounded). A type that does not
	// implement crdt.Bounded is not checked beyond its Validate.
	check(w wire, origin crdt.Replica, b crdt.Bounds) error
	// sanitize drops local counts above b's ceiling (see crdt.Bounded)
	// and returns how many.
	sanitize(b crdt.Bounds) int
	// encode appends w's encoding to dst.
	encode(c *codec.Codec, dst []byte, w wire) ([]byte, error)
	decode(c *codec.Codec, payload []byte) (wire, error)
	// retire runs the value's replica retirement, if it has one (see
	// crdt.Retirer), and reports whether the value changed.
	retire(now time.Time, plan crdt.RetirePlan) bool
	// handOver passes the value's uncommitted retirement records to to
	// (crdt.HandOverer), when this node leaves on purpose.
	handOver(to crdt.Replica) bool
	// release drops the CRDT state (Node.Unshare); see unshare.go.
	release()
}

type valueAdapter[T crdt.Value[T]] struct {
	v T
	// proto is an empty state with v's configuration, made once at
	// registration: decode builds from it without the entry's lock, so
	// it must not read v, which Unshare releases under the lock.
	proto T
	// refused, if set, is told how many entries a merge refused (see
	// lww.go): the engine counts and logs them.
	refused func(n uint64)
}

func typeNameOf[T any]() string { return reflect.TypeFor[T]().String() }

// sharedProtos holds, per type, one empty state for the types whose empty
// state is the zero value (the counters, say): it carries no
// configuration, so every value of the type decodes from the same one
// instead of keeping its own (112 bytes per PN counter, per value).
var sharedProtos sync.Map // reflect.Type -> T

// protoOf returns the empty state decode starts from for v: v.Empty(), or
// the type's shared one when that is the zero value. A shared proto is
// only read (Empty, which changes no receiver in package crdt, and must
// not in a caller's own type), so values and nodes may share it.
func protoOf[T crdt.Value[T]](v T) T {
	p := v.Empty()
	rv := reflect.ValueOf(p)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !rv.Elem().IsZero() {
		return p
	}
	q, _ := sharedProtos.LoadOrStore(rv.Type(), p)
	return q.(T)
}

func (a *valueAdapter[T]) typeName() string { return typeNameOf[T]() }

func (a *valueAdapter[T]) takeDelta() (wire, bool) {
	d, ok := a.v.Delta()
	if !ok {
		return nil, false
	}
	return d, true
}

func (a *valueAdapter[T]) merge(now time.Time, w wire) (wire, bool) {
	before := skewRejections(a.v)
	eff, changed := a.v.Merge(now, w.(T))
	a.reportRefused(before)
	if !changed {
		return nil, false
	}
	return eff, true
}

func (a *valueAdapter[T]) clone() wire { return a.v.Clone() }

func (a *valueAdapter[T]) check(w wire, origin crdt.Replica, b crdt.Bounds) error {
	if c, ok := any(a.v).(crdt.Bounded[T]); ok {
		return c.Check(w.(T), origin, b)
	}
	return nil
}

func (a *valueAdapter[T]) sanitize(b crdt.Bounds) int {
	if c, ok := any(a.v).(crdt.Bounded[T]); ok {
		return c.Sanitize(b)
	}
	return 0
}

func (a *valueAdapter[T]) retire(now time.Time, plan crdt.RetirePlan) bool {
	if r, ok := any(a.v).(crdt.Retirer); ok {
		return r.Retire(now, plan)
	}
	return false
}

func (a *valueAdapter[T]) handOver(to crdt.Replica) bool {
	if h, ok := any(a.v).(crdt.HandOverer); ok {
		return h.HandOver(to)
	}
	return false
}

func (a *valueAdapter[T]) accumulate(now time.Time, acc, w wire) wire {
	if acc == nil {
		return w.(T).Clone()
	}
	t := acc.(T)
	t.Merge(now, w.(T))
	return t
}

func (a *valueAdapter[T]) encode(c *codec.Codec, dst []byte, w wire) ([]byte, error) {
	return c.AppendMarshal(dst, w.(T))
}

// decode is called without the entry lock: it starts from proto, whose
// configuration never changes after construction.
func (a *valueAdapter[T]) decode(c *codec.Codec, payload []byte) (wire, error) {
	t, err := a.unmarshal(c, payload)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

func (a *valueAdapter[T]) unmarshal(c *codec.Codec, payload []byte) (T, error) {
	if _, ok := any(a.proto).(*crdt.PNCounter); ok {
		// Most of a burst: one allocation a delta, not two.
		pn, err := c.DecodePNCounter(payload)
		t, _ := any(pn).(T)
		return t, err
	}
	t := a.proto.Empty()
	return t, c.Unmarshal(payload, t)
}

// entry is one named value registered on a node.
type entry struct {
	name     string
	typeName string
	node     *Node

	mu sync.Mutex
	a  adapter
	// prepare, if set, folds lock-free local updates (a Counter's pending
	// adds) into the value; called with mu held before any read or delta.
	prepare func()

	// config describes the options the value was registered with
	// (ShareConfig), compared at every later registration; nil if none.
	// Guarded by mu once the entry is published.
	config any

	// handle is the helper type (*Counter, *Window, ...) made for this
	// entry, so every call for the same name returns the same one.
	handle any
	// claimed is set while a handle owns the value (Shared.Claim).
	claimed bool

	// dirty is set by a local update and cleared by the flusher; while set
	// the entry is on the node's dirty list once.
	dirty atomic.Bool
	// gone is set, under mu, by Node.Unshare: a, prepare and handle are
	// released, and every path checks it (under mu) before touching a.
	gone atomic.Bool

	subMu      sync.Mutex
	subs       []chan struct{}
	subsClosed bool // the node stopped: subscriptions get a closed channel

	// gen counts changes (see changed); hash caches the state's digest
	// hash, valid while hashGen == gen+1 (under mu).
	gen     atomic.Uint64
	hash    uint64
	hashGen uint64
}

// changed wakes every subscriber without blocking: each channel has room
// for one signal, so a burst of changes coalesces into one wake-up.
func (e *entry) changed() {
	e.gen.Add(1)
	e.subMu.Lock()
	for _, ch := range e.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	e.subMu.Unlock()
}

func (e *entry) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	e.subMu.Lock()
	if e.subsClosed {
		e.subMu.Unlock()
		close(ch)
		return ch, func() {}
	}
	e.subs = append(e.subs, ch)
	e.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			e.subMu.Lock()
			defer e.subMu.Unlock()
			for i, c := range e.subs {
				if c == ch {
					e.subs = append(e.subs[:i], e.subs[i+1:]...)
					break
				}
			}
		})
	}
}

// closeSubs closes every subscriber's channel; later subscriptions get a
// closed channel. Called once, when the node stops.
func (e *entry) closeSubs() {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	for _, ch := range e.subs {
		close(ch)
	}
	e.subs, e.subsClosed = nil, true
}

// update applies fn, a local change, under the entry's lock and marks the
// entry dirty. It fails with ErrClosed, without calling fn, once Leave has
// started: checked under the lock, so a change either precedes the lock
// Leave's last flush takes on this entry (and is sent) or is refused.
func (e *entry) update(fn func()) error {
	e.mu.Lock()
	if e.gone.Load() {
		e.mu.Unlock()
		return ErrUnshared
	}
	if e.node.closing.Load() {
		e.mu.Unlock()
		return ErrClosed
	}
	fn()
	e.mu.Unlock()
	e.localUpdate()
	return nil
}

// localUpdate marks the entry dirty after a local change and wakes the
// flusher once per flush. It allocates nothing.
func (e *entry) localUpdate() {
	if !e.dirty.Load() && e.dirty.CompareAndSwap(false, true) {
		e.node.markDirty(e)
	}
}

func (e *entry) String() string { return fmt.Sprintf("%s (%s)", e.name, e.typeName) }

// handleFor returns the entry's helper handle, making it with mk (under the
// entry's lock) the first time.
func handleFor[H any](e *entry, mk func() H) (H, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.handle == nil {
		e.handle = mk()
	}
	h, ok := e.handle.(H)
	if !ok {
		var zero H
		return zero, fmt.Errorf("%w: %q already has a %T handle", ErrTypeMismatch, e.name, e.handle)
	}
	return h, nil
}

// entries returns the registered values, in no order: a snapshot taken
// under valuesMu, so that work over every value holds only each value's
// own lock.
func (n *Node) entries() []*entry {
	n.valuesMu.RLock()
	defer n.valuesMu.RUnlock()
	out := make([]*entry, 0, len(n.values))
	for _, e := range n.values {
		out = append(out, e)
	}
	return out
}
