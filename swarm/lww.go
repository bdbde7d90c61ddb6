package swarm

import (
	"cmp"
	"fmt"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// Map is a cluster-wide last-writer-wins map: Set and Delete are local and
// immediate; concurrent writes to one key resolve to the write with the
// highest hybrid-logical-clock timestamp on every node.
type Map[K cmp.Ordered, V any] struct {
	s *Shared[*crdt.LWWMap[K, V]]
}

// NewMap registers (or returns) the LWW map name on n. opts sets the
// clock-skew cap and the tombstone lifetime (zero values: defaults); the
// node drops tombstones once they are older than the lifetime. Registering
// name again with other options fails with ErrConfigMismatch.
func NewMap[K cmp.Ordered, V any](n *Node, name string, opts crdt.LWWOptions) (*Map[K, V], error) {
	s, err := ShareConfig(n, name, opts.WithDefaults(), func(self crdt.Replica) *crdt.LWWMap[K, V] { return crdt.NewLWWMap[K, V](self, opts) })
	if err != nil {
		return nil, err
	}
	return handleFor(s.e, func() *Map[K, V] { return &Map[K, V]{s: s} })
}

// Set sets key k to v.
func (m *Map[K, V]) Set(k K, v V) error {
	return m.s.Update(func(mp *crdt.LWWMap[K, V], now time.Time) { mp.SetAt(now, k, v) })
}

// SetTTL sets key k to v for ttl: from the write's timestamp plus ttl on,
// every node reads k as absent (Get, Len, All), each by its own clock, so
// nodes agree up to their clock skew; the node's expiry loop then turns
// the entry into a tombstone, which keeps older writes out for the map's
// TombstoneTTL. A later Set or SetTTL wins as usual. A ttl of zero or
// less sets k without expiry, as Set does.
//
// Wire: the TTL travels as a fifth element of every LWW entry, so nodes
// built before TTLs existed cannot decode this build's LWW maps (nor it
// their snapshots); upgrade every node before relying on LWW maps during
// a rolling upgrade. See docs/DESIGN.md, "Entry TTLs and Unshare".
func (m *Map[K, V]) SetTTL(k K, v V, ttl time.Duration) error {
	return m.s.Update(func(mp *crdt.LWWMap[K, V], now time.Time) { mp.SetTTLAt(now, k, v, ttl) })
}

// Delete deletes key k (a tombstone that wins over older writes).
func (m *Map[K, V]) Delete(k K) error {
	return m.s.Update(func(mp *crdt.LWWMap[K, V], now time.Time) { mp.DeleteAt(now, k) })
}

// Get returns the value of k; ok is false if k is absent, deleted or past
// its TTL.
func (m *Map[K, V]) Get(k K) (v V, ok bool, err error) {
	now := m.s.e.node.now()
	err = m.s.Read(func(mp *crdt.LWWMap[K, V]) { v, ok = mp.GetAt(now, k) })
	return v, ok, err
}

// Len returns the number of live keys (entries past their TTL excluded).
func (m *Map[K, V]) Len() (int, error) {
	var n int
	now := m.s.e.node.now()
	err := m.s.Read(func(mp *crdt.LWWMap[K, V]) { n = mp.LenAt(now) })
	return n, err
}

// All returns a copy of the live entries (entries past their TTL
// excluded).
func (m *Map[K, V]) All() (map[K]V, error) {
	out := make(map[K]V)
	now := m.s.e.node.now()
	err := m.s.Read(func(mp *crdt.LWWMap[K, V]) {
		mp.RangeAt(now, func(k K, v V, _ crdt.Timestamp) bool { out[k] = v; return true })
	})
	return out, err
}

// Shared returns the underlying typed handle.
func (m *Map[K, V]) Shared() *Shared[*crdt.LWWMap[K, V]] { return m.s }

// Register is a cluster-wide last-writer-wins register.
type Register[T any] struct {
	s *Shared[*crdt.LWWRegister[T]]
}

// NewRegister registers (or returns) the LWW register name on n. opts sets
// the clock-skew cap (TombstoneTTL does not apply); registering name again
// with another cap fails with ErrConfigMismatch.
func NewRegister[T any](n *Node, name string, opts crdt.LWWOptions) (*Register[T], error) {
	skew := opts.WithDefaults()
	skew.TombstoneTTL = 0
	s, err := ShareConfig(n, name, registerConfig(skew), func(self crdt.Replica) *crdt.LWWRegister[T] { return crdt.NewLWWRegister[T](self, opts) })
	if err != nil {
		return nil, err
	}
	return handleFor(s.e, func() *Register[T] { return &Register[T]{s: s} })
}

// Set writes v.
func (r *Register[T]) Set(v T) error {
	return r.s.Update(func(reg *crdt.LWWRegister[T], now time.Time) { reg.SetAt(now, v) })
}

// Get returns the current value; ok is false if none was ever written.
func (r *Register[T]) Get() (v T, ok bool, err error) {
	err = r.s.Read(func(reg *crdt.LWWRegister[T]) { v, _, ok = reg.Get() })
	return v, ok, err
}

// Shared returns the underlying typed handle.
func (r *Register[T]) Shared() *Shared[*crdt.LWWRegister[T]] { return r.s }

// rejectSkew: LWW entries stamped more than the value's MaxSkew ahead of
// this node's clock, refused at merge and never stored (an entry stamped
// at the end of time would otherwise own its key forever).
const rejectSkew = "lww_clock_skew"

// skewCounter is implemented by the CRDTs that refuse entries beyond the
// clock-skew cap at merge (crdt.LWWMap, crdt.LWWRegister): a count that
// only grows.
type skewCounter interface{ SkewRejections() uint64 }

func skewRejections(v any) uint64 {
	if s, ok := v.(skewCounter); ok {
		return s.SkewRejections()
	}
	return 0
}

// reportRefused tells the engine how many entries the merge just made
// refused. Called with the entry locked; refused only counts atomically.
func (a *valueAdapter[T]) reportRefused(before uint64) {
	if a.refused == nil {
		return
	}
	if d := skewRejections(a.v) - before; d > 0 {
		a.refused(d)
	}
}

// skewRefused counts and logs (rate-limited) entries of name refused for
// clock skew.
func (n *Node) skewRefused(name string, count uint64) {
	for range count {
		n.stats.reject(rejectSkew)
	}
	n.warnLimited(rejectSkew, "refused LWW entries stamped beyond the clock-skew cap (a peer's clock is far ahead, or a forged timestamp)",
		"value", name, "entries", count)
}

// registerConfig is a register's options as ShareConfig compares them:
// only the skew cap applies.
type registerConfig crdt.LWWOptions

func (c registerConfig) String() string { return fmt.Sprintf("MaxSkew %v", c.MaxSkew) }
