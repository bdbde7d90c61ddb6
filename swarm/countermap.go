package swarm

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// ErrTooManyKeys is returned for a new key when a keyed store is at its
// bound: by CounterMap.Add when the map already holds its MaxKeys keys,
// and by Swarm.ShareValue when the node holds Options.MaxKeys classic
// keys. The wrapping error names the store.
var ErrTooManyKeys = errors.New("shoal/swarm: too many keys")

// counterMapPage is how many keys Range copies per hold of the lock.
const counterMapPage = 1024

// CounterMap is a cluster-wide map of integer counters, one per key: the
// requests per tenant, the quota used per customer (a crdt.PNCounterMap).
// Every node adds to its own slot of a key; a key's value is the sum.
// Delete is an observed reset: what this node had seen of the key is gone
// everywhere, an increment made concurrently elsewhere survives. Keys idle
// for IdleTTL expire (they read as 0 and start again from 0). It follows
// Counter's conventions: local, immediate updates; values as this node
// knows them; ErrClosed after the node stops. Safe for concurrent use.
type CounterMap[K cmp.Ordered] struct {
	s *Shared[*crdt.PNCounterMap[K]]
}

// NewCounterMap registers (or returns) the counter map name on n with the
// default options: at most crdt.DefaultCounterMapMaxKeys keys, no idle
// expiry.
func NewCounterMap[K cmp.Ordered](n *Node, name string) (*CounterMap[K], error) {
	return NewCounterMapWithOptions[K](n, name, crdt.CounterMapOptions{})
}

// NewCounterMapWithOptions is NewCounterMap with options (key bound, idle
// expiry, clock-skew cap). Every node sharing name should use the same
// options.
func NewCounterMapWithOptions[K cmp.Ordered](n *Node, name string, opts crdt.CounterMapOptions) (*CounterMap[K], error) {
	if opts.MaxKeys < 0 || opts.IdleTTL < 0 || opts.MaxSkew < 0 {
		return nil, fmt.Errorf("%w: counter map %q: MaxKeys, IdleTTL and MaxSkew must not be negative", ErrInvalidConfig, name)
	}
	s, err := Share(n, name, func(self crdt.Replica) *crdt.PNCounterMap[K] { return crdt.NewPNCounterMap[K](self, opts) })
	if err != nil {
		return nil, err
	}
	// The node's expiry loop (expire.go) sweeps idle keys out once a
	// second, a bounded step per hold of the lock: PNCounterMap is an
	// expirer.
	return handleFor(s.e, func() *CounterMap[K] { return &CounterMap[K]{s: s} })
}

// Add adds delta (negative to subtract) to key k. It takes the value's
// lock briefly and allocates nothing for a key the map holds; peers see it
// after the next flush. A new key beyond MaxKeys fails with
// ErrTooManyKeys.
func (m *CounterMap[K]) Add(k K, delta int64) error {
	e := m.s.e
	n := e.node
	if n.closed.Load() {
		return ErrClosed
	}
	e.mu.Lock()
	if e.gone.Load() {
		e.mu.Unlock()
		return ErrUnshared
	}
	ok := m.s.a.v.AddAt(n.now(), k, delta)
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: counter map %q is full", ErrTooManyKeys, e.name)
	}
	e.localUpdate()
	return nil
}

// Value returns k's cluster-wide value as this node knows it; 0 for a key
// the map does not hold or that has expired.
func (m *CounterMap[K]) Value(k K) (int64, error) {
	e := m.s.e
	n := e.node
	if n.closed.Load() {
		return 0, ErrClosed
	}
	e.mu.Lock()
	if e.gone.Load() {
		e.mu.Unlock()
		return 0, ErrUnshared
	}
	v, _ := m.s.a.v.ValueAt(n.now(), k)
	e.mu.Unlock()
	return v, nil
}

// Delete resets k: every count this node had seen is gone on every node.
func (m *CounterMap[K]) Delete(k K) error {
	return m.s.Update(func(c *crdt.PNCounterMap[K], now time.Time) { c.DeleteAt(now, k) })
}

// Len returns the number of keys held (expired keys not yet dropped
// included).
func (m *CounterMap[K]) Len() (int, error) {
	var l int
	err := m.s.Read(func(c *crdt.PNCounterMap[K]) { l = c.Len() })
	return l, err
}

// Range calls fn for every live key and its value until fn returns false.
// It copies the keys a page at a time and calls fn without holding the
// value's lock, so fn may call the map; a key added, deleted or expired
// during Range may be missed or seen twice.
func (m *CounterMap[K]) Range(fn func(k K, v int64) bool) error {
	e := m.s.e
	n := e.node
	keys := make([]K, 0, counterMapPage)
	vals := make([]int64, 0, counterMapPage)
	for pos := 0; ; {
		if n.closed.Load() {
			return ErrClosed
		}
		e.mu.Lock()
		if e.gone.Load() {
			e.mu.Unlock()
			return ErrUnshared
		}
		var next int
		keys, vals, next = m.s.a.v.AppendLive(n.now(), pos, counterMapPage, keys[:0], vals[:0])
		done := next >= m.s.a.v.Len()
		e.mu.Unlock()
		for i := range keys {
			if !fn(keys[i], vals[i]) {
				return nil
			}
		}
		if done {
			return nil
		}
		pos = next
	}
}

// Shared returns the underlying typed handle.
func (m *CounterMap[K]) Shared() *Shared[*crdt.PNCounterMap[K]] { return m.s }
