package crdt

import (
	"cmp"
	"slices"
	"time"

	"github.com/google/btree"
)

// LWWEntry is one key of an LWWMap: its value, the timestamp of the write
// that set it, whether that write was a delete (a tombstone, whose Value
// is the zero V), and the write's time to live (zero: none). An entry
// with a TTL is dead from TS.Wall+TTL on (see SetTTLAt); every replica
// computes that instant from the entry alone.
type LWWEntry[K cmp.Ordered, V any] struct {
	_       struct{} `cbor:",toarray"`
	Key     K
	Value   V
	TS      Timestamp
	Deleted bool
	TTL     time.Duration
}

// LWWMap is a map in which each key is a last-writer-wins register:
// SetAt and DeleteAt are timestamped by a hybrid logical clock, and for
// each key the write with the highest Timestamp wins on every replica.
// Deletes leave tombstones so that an older write arriving late cannot
// bring the key back; ExpireAt drops tombstones older than the
// TombstoneTTL. K is cmp.Ordered so that entries are kept sorted by
// cmp.Compare and equal maps encode to equal bytes. V is copied by
// assignment: if it holds pointers, slices or maps, treat stored values as
// immutable.
//
// Skew: a remote entry stamped more than the maximum skew ahead of the
// local wall clock is refused by Merge and never stored (counted by
// SkewRejections). Anti-entropy offers it again later, so a replica whose
// clock is merely behind takes it once its clock has caught up; an entry
// stamped at the end of time is never taken, and so never owns its key.
//
// Representation and costs: a local state (made by NewLWWMap) keeps its
// entries in a B-tree ordered by key, so SetAt, DeleteAt, Get and the
// merge of one remote entry cost O(log n) whatever the size (100,000 new
// keys in about 60 ms, BenchmarkLWWMapInsert), and its tombstones in a
// heap ordered by time, so expiry costs O(log n) per tombstone dropped and
// nothing when none is due. Its E field is then empty: the wire form of a
// local state is its Clone. A wire state (decoded, or returned by Delta,
// Clone or Merge) keeps its entries in E, sorted.
//
// The zero value is an empty wire state. LWWMap is not safe for
// concurrent use; the caller serialises access.
type LWWMap[K cmp.Ordered, V any] struct {
	// E holds the entries of a wire state, live and deleted, sorted by Key
	// (cmp.Compare), no duplicates. It is exported for the codec only; use
	// the methods. A local state keeps E empty.
	E []LWWEntry[K, V] `cbor:"1,keyasint,omitempty"`

	// tree, if not nil, holds the entries instead of E (a local state).
	tree  *btree.BTreeG[lwwItem[K, V]]
	tombs tombstoneHeap[K] // the tree's tombstones, oldest first

	clock Clock
	ttl   time.Duration
	live  int // entries that are not tombstones
	dirty []K // keys written locally since the last Delta, maybe repeated
}

// lwwItem is an entry in a local state's tree. queued records that the
// expiry heap holds an item for the key, due at at; an item in the heap
// with another time is stale and skipped when it comes due.
type lwwItem[K cmp.Ordered, V any] struct {
	LWWEntry[K, V]
	queued bool
	at     int64
}

// lwwDegree is the B-tree's degree: nodes of up to 63 entries, a few cache
// lines of keys to search and at most a few KiB to shift per insert.
const lwwDegree = 32

var _ Value[*LWWMap[string, int]] = (*LWWMap[string, int])(nil)

// NewLWWMap returns an empty map owned by self.
func NewLWWMap[K cmp.Ordered, V any](self Replica, opts LWWOptions) *LWWMap[K, V] {
	m := &LWWMap[K, V]{
		clock: Clock{self: self, maxSkew: opts.MaxSkew},
		ttl:   opts.tombstoneTTL(),
	}
	m.index()
	return m
}

func lessItem[K cmp.Ordered, V any](a, b lwwItem[K, V]) bool { return cmp.Less(a.Key, b.Key) }

// index moves a wire state's entries into a tree, making it a local state.
// It is what a write to a wire state (such as the zero value) does first.
func (m *LWWMap[K, V]) index() {
	if m.tree != nil {
		return
	}
	m.tree = btree.NewG(lwwDegree, lessItem[K, V])
	m.live = 0
	for _, e := range m.E {
		it := lwwItem[K, V]{LWWEntry: e}
		m.requeue(&it)
		m.tree.ReplaceOrInsert(it)
		if !e.Deleted {
			m.live++
		}
	}
	m.E = nil
}

func (m *LWWMap[K, V]) search(k K) (int, bool) {
	return slices.BinarySearchFunc(m.E, k, func(e LWWEntry[K, V], k K) int { return cmp.Compare(e.Key, k) })
}

// get returns k's entry, tombstone or not.
func (m *LWWMap[K, V]) get(k K) (lwwItem[K, V], bool) {
	if m.tree != nil {
		return m.tree.Get(lwwItem[K, V]{LWWEntry: LWWEntry[K, V]{Key: k}})
	}
	if i, found := m.search(k); found {
		return lwwItem[K, V]{LWWEntry: m.E[i]}, true
	}
	return lwwItem[K, V]{}, false
}

// put stores e in the tree as k's entry, replacing old (found tells
// whether there was one), and keeps the live count and the tombstone heap.
func (m *LWWMap[K, V]) put(old lwwItem[K, V], found bool, e LWWEntry[K, V]) {
	if found && !old.Deleted {
		m.live--
	}
	if !e.Deleted {
		m.live++
	}
	it := lwwItem[K, V]{LWWEntry: e}
	if found {
		it.queued, it.at = old.queued, old.at
	}
	m.requeue(&it)
	m.tree.ReplaceOrInsert(it)
}

// SetAt sets k to v at wall time now.
func (m *LWWMap[K, V]) SetAt(now time.Time, k K, v V) {
	m.write(now, k, v, false, 0)
}

// DeleteAt deletes k at wall time now, leaving a tombstone that wins over
// every older write to k, also ones not seen yet. Deleting a key that is
// not there still records the tombstone, for that reason.
func (m *LWWMap[K, V]) DeleteAt(now time.Time, k K) {
	var zero V
	m.write(now, k, zero, true, 0)
}

func (m *LWWMap[K, V]) write(now time.Time, k K, v V, deleted bool, ttl time.Duration) {
	m.index()
	// One traversal in the common case: insert with a timestamp from the
	// clock, which is after every entry the map holds (it observed them
	// all), and fix the rare cases from the entry it replaced.
	e := LWWEntry[K, V]{Key: k, Value: v, TS: m.clock.Now(now), Deleted: deleted, TTL: max(ttl, 0)}
	old, found := m.tree.ReplaceOrInsert(lwwItem[K, V]{LWWEntry: e})
	rewrite := false
	if found && !e.TS.After(old.TS) {
		// The entry is ahead of the clock (a wire state made local):
		// order the write just after it, as nextTimestamp does.
		e.TS = old.TS.tick()
		e.TS.Replica = m.clock.self
		rewrite = true
	}
	it := lwwItem[K, V]{LWWEntry: e}
	if found {
		it.queued, it.at = old.queued, old.at
	}
	m.requeue(&it)
	if rewrite || it.queued {
		m.tree.ReplaceOrInsert(it)
	}
	if found && !old.Deleted {
		m.live--
	}
	if !deleted {
		m.live++
	}
	m.dirty = append(m.dirty, k)
	if len(m.dirty) > 2*m.tree.Len()+64 {
		// Nobody has asked for a Delta for a while: deduplicate, so the
		// list stays bounded by the number of keys.
		m.dirty = sortedUnique(m.dirty)
	}
}

func sortedUnique[K cmp.Ordered](keys []K) []K {
	slices.SortFunc(keys, cmp.Compare[K])
	return slices.CompactFunc(keys, func(a, b K) bool { return cmp.Compare(a, b) == 0 })
}

// Get returns the value of k; ok is false if k is absent or deleted. Get
// does not know the time, so an entry past its TTL that expiry has not
// dropped yet is still returned: use GetAt.
func (m *LWWMap[K, V]) Get(k K) (v V, ok bool) {
	if it, found := m.get(k); found && !it.Deleted {
		return it.Value, true
	}
	return v, false
}

// Len returns the number of live (not deleted) keys, counting entries past
// their TTL that expiry has not dropped yet: use LenAt.
func (m *LWWMap[K, V]) Len() int { return m.live }

// Tombstones returns the number of deleted keys still remembered.
func (m *LWWMap[K, V]) Tombstones() int { return m.entries() - m.live }

// entries returns the number of entries, live and deleted.
func (m *LWWMap[K, V]) entries() int {
	if m.tree != nil {
		return m.tree.Len()
	}
	return len(m.E)
}

// Keys returns the live keys in ascending order. The caller owns the slice.
func (m *LWWMap[K, V]) Keys() []K {
	keys := make([]K, 0, m.live)
	m.Range(func(k K, _ V, _ Timestamp) bool { keys = append(keys, k); return true })
	return keys
}

// Range calls fn for each live key in ascending order until fn returns
// false. fn must not modify the map. It costs O(log n) plus the entries
// visited, tombstones included.
func (m *LWWMap[K, V]) Range(fn func(k K, v V, ts Timestamp) bool) {
	m.ascend(func(e *LWWEntry[K, V]) bool { return e.Deleted || fn(e.Key, e.Value, e.TS) })
}

// RangeAny calls fn for each entry, tombstones included, in ascending key
// order until fn returns false, with the key and value as interfaces: for
// tools that describe maps of any type (swarm's Node.Values). It costs
// O(log n) plus the entries visited.
func (m *LWWMap[K, V]) RangeAny(fn func(key, value any, ts Timestamp, deleted bool) bool) {
	m.ascend(func(e *LWWEntry[K, V]) bool { return fn(e.Key, e.Value, e.TS, e.Deleted) })
}

func (m *LWWMap[K, V]) ascend(fn func(e *LWWEntry[K, V]) bool) {
	if m.tree != nil {
		m.tree.Ascend(func(it lwwItem[K, V]) bool { return fn(&it.LWWEntry) })
		return
	}
	for i := range m.E {
		if !fn(&m.E[i]) {
			return
		}
	}
}

// Purge removes k from this replica only, without a tombstone, and reports
// whether it was there. Other replicas keep their entry, and merging their
// state brings k back; Purge is for forgetting what nobody writes any more
// (such as the entries of departed nodes) on every replica independently.
func (m *LWWMap[K, V]) Purge(k K) bool {
	it, found := m.get(k)
	if !found {
		return false
	}
	if !it.Deleted {
		m.live--
	}
	if m.tree != nil {
		m.tree.Delete(it)
		return true
	}
	i, _ := m.search(k)
	m.E = slices.Delete(m.E, i, i+1)
	return true
}

// TombstoneTTL returns the tombstone lifetime in force.
func (m *LWWMap[K, V]) TombstoneTTL() time.Duration {
	if m.ttl <= 0 {
		return DefaultTombstoneTTL
	}
	return m.ttl
}

// SkewRejections returns how many remote entries Merge refused because
// their timestamp was more than the maximum skew ahead of the local wall
// clock.
func (m *LWWMap[K, V]) SkewRejections() uint64 { return m.clock.SkewRejections() }
