package crdt

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// LWWEntry is one key of an LWWMap: its value, the timestamp of the write
// that set it, and whether that write was a delete (a tombstone, whose
// Value is the zero V).
type LWWEntry[K cmp.Ordered, V any] struct {
	_       struct{} `cbor:",toarray"`
	Key     K
	Value   V
	TS      Timestamp
	Deleted bool
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
// Skew is handled as in LWWRegister: remote entries are always merged, the
// local clock follows them only within the maximum skew, and a local write
// to a key is always ordered after the key's current entry.
//
// The zero value is an empty wire state. LWWMap is not safe for
// concurrent use; the caller serialises access.
type LWWMap[K cmp.Ordered, V any] struct {
	// E holds the entries, live and deleted, sorted by Key (cmp.Compare),
	// no duplicates. It is exported for the codec only; use the methods.
	E []LWWEntry[K, V] `cbor:"1,keyasint,omitempty"`

	clock Clock
	ttl   time.Duration
	live  int // entries that are not tombstones
	dirty []K // keys written locally since the last Delta, maybe repeated
}

var _ Value[*LWWMap[string, int]] = (*LWWMap[string, int])(nil)

// NewLWWMap returns an empty map owned by self.
func NewLWWMap[K cmp.Ordered, V any](self Replica, opts LWWOptions) *LWWMap[K, V] {
	return &LWWMap[K, V]{
		clock: Clock{self: self, maxSkew: opts.MaxSkew},
		ttl:   opts.tombstoneTTL(),
	}
}

func (m *LWWMap[K, V]) search(k K) (int, bool) {
	return slices.BinarySearchFunc(m.E, k, func(e LWWEntry[K, V], k K) int { return cmp.Compare(e.Key, k) })
}

// SetAt sets k to v at wall time now.
func (m *LWWMap[K, V]) SetAt(now time.Time, k K, v V) {
	m.write(now, k, v, false)
}

// DeleteAt deletes k at wall time now, leaving a tombstone that wins over
// every older write to k, also ones not seen yet. Deleting a key that is
// not there still records the tombstone, for that reason.
func (m *LWWMap[K, V]) DeleteAt(now time.Time, k K) {
	var zero V
	m.write(now, k, zero, true)
}

func (m *LWWMap[K, V]) write(now time.Time, k K, v V, deleted bool) {
	i, found := m.search(k)
	if found {
		e := &m.E[i]
		if !e.Deleted {
			m.live--
		}
		e.Value, e.TS, e.Deleted = v, nextTimestamp(&m.clock, now, e.TS), deleted
	} else {
		m.E = slices.Insert(m.E, i, LWWEntry[K, V]{Key: k, Value: v, TS: nextTimestamp(&m.clock, now, Timestamp{}), Deleted: deleted})
	}
	if !deleted {
		m.live++
	}
	m.dirty = append(m.dirty, k)
	if len(m.dirty) > 2*len(m.E)+64 {
		// Nobody has asked for a Delta for a while: deduplicate, so the
		// list stays bounded by the number of keys.
		m.dirty = sortedUnique(m.dirty)
	}
}

func sortedUnique[K cmp.Ordered](keys []K) []K {
	slices.SortFunc(keys, cmp.Compare[K])
	return slices.CompactFunc(keys, func(a, b K) bool { return cmp.Compare(a, b) == 0 })
}

// Get returns the value of k; ok is false if k is absent or deleted.
func (m *LWWMap[K, V]) Get(k K) (v V, ok bool) {
	if i, found := m.search(k); found && !m.E[i].Deleted {
		return m.E[i].Value, true
	}
	return v, false
}

// Len returns the number of live (not deleted) keys.
func (m *LWWMap[K, V]) Len() int { return m.live }

// Keys returns the live keys in ascending order. The caller owns the slice.
func (m *LWWMap[K, V]) Keys() []K {
	keys := make([]K, 0, m.live)
	for i := range m.E {
		if !m.E[i].Deleted {
			keys = append(keys, m.E[i].Key)
		}
	}
	return keys
}

// Range calls fn for each live key in ascending order until fn returns
// false. fn must not modify the map.
func (m *LWWMap[K, V]) Range(fn func(k K, v V, ts Timestamp) bool) {
	for i := range m.E {
		if e := &m.E[i]; !e.Deleted && !fn(e.Key, e.Value, e.TS) {
			return
		}
	}
}

// ExpireAt drops the tombstones whose delete is older than the
// TombstoneTTL at wall time now and returns how many it dropped.
//
// The trade-off: once a tombstone is gone, a write to that key older than
// the delete, arriving later (from a replica partitioned for longer than
// the TTL, or from a peer that has not expired the key yet), brings the key
// back. A longer TTL costs memory and state size per deleted key; a
// shorter one widens that window.
func (m *LWWMap[K, V]) ExpireAt(now time.Time) int {
	cutoff := satSubInt64(now.UnixNano(), int64(m.TombstoneTTL()))
	kept := m.E[:0]
	for _, e := range m.E {
		if e.Deleted && e.TS.Wall < cutoff {
			continue
		}
		kept = append(kept, e)
	}
	n := len(m.E) - len(kept)
	clear(m.E[len(kept):])
	m.E = kept
	return n
}

// TombstoneTTL returns the tombstone lifetime in force.
func (m *LWWMap[K, V]) TombstoneTTL() time.Duration {
	if m.ttl <= 0 {
		return DefaultTombstoneTTL
	}
	return m.ttl
}

// Purge removes k from this replica only, without a tombstone, and reports
// whether it was there. Other replicas keep their entry, and merging their
// state brings k back; Purge is for forgetting what nobody writes any more
// (such as the entries of departed nodes) on every replica independently.
func (m *LWWMap[K, V]) Purge(k K) bool {
	i, found := m.search(k)
	if !found {
		return false
	}
	if !m.E[i].Deleted {
		m.live--
	}
	m.E = slices.Delete(m.E, i, i+1)
	return true
}

// SkewRejections returns how many merged-in timestamps were too far ahead
// for the local clock to follow.
func (m *LWWMap[K, V]) SkewRejections() uint64 { return m.clock.SkewRejections() }

// Merge takes, for each key, the entry with the higher timestamp. The
// effect holds the entries of other that won. Merge costs
// O(len(other.E)·log len(m.E)) plus one pass over m.E when keys are new.
func (m *LWWMap[K, V]) Merge(now time.Time, other *LWWMap[K, V]) (effect *LWWMap[K, V], changed bool) {
	if other == nil || m == other {
		return nil, false
	}
	var eff, ins []LWWEntry[K, V]
	for _, o := range other.E {
		if o.Deleted {
			var zero V
			o.Value = zero // keep tombstones canonical
		}
		i, found := m.search(o.Key)
		if found {
			e := &m.E[i]
			if !o.TS.After(e.TS) {
				continue
			}
			if !e.Deleted {
				m.live--
			}
			*e = o
		} else {
			ins = append(ins, o)
		}
		if !o.Deleted {
			m.live++
		}
		_ = m.clock.Observe(now, o.TS) // a rejection is counted; the entry is still taken
		eff = append(eff, o)
	}
	if len(eff) == 0 {
		return nil, false
	}
	if len(ins) > 0 {
		m.E = insertSorted(m.E, ins, func(a, b LWWEntry[K, V]) int { return cmp.Compare(a.Key, b.Key) })
	}
	return &LWWMap[K, V]{E: eff}, true
}

// Delta returns the entries written locally since the last Delta that no
// remote write has replaced since.
func (m *LWWMap[K, V]) Delta() (delta *LWWMap[K, V], ok bool) {
	if len(m.dirty) == 0 {
		return nil, false
	}
	keys := sortedUnique(m.dirty)
	var out []LWWEntry[K, V]
	for _, k := range keys {
		if i, found := m.search(k); found && m.E[i].TS.Replica == m.clock.self {
			out = append(out, m.E[i])
		}
	}
	clear(keys)
	m.dirty = keys[:0] // reuse the backing array: SetAt stays allocation-free
	if len(out) == 0 {
		return nil, false
	}
	return &LWWMap[K, V]{E: out}, true
}

// Clone returns a copy of all entries, tombstones included, as a wire
// state.
func (m *LWWMap[K, V]) Clone() *LWWMap[K, V] {
	return &LWWMap[K, V]{E: slices.Clone(m.E), live: m.live, ttl: m.ttl}
}

// Empty returns an empty wire state.
func (m *LWWMap[K, V]) Empty() *LWWMap[K, V] { return &LWWMap[K, V]{ttl: m.ttl} }

// Validate checks a decoded state: keys strictly ascending, every entry
// written by a non-zero replica. Errors wrap ErrInvalidState.
func (m *LWWMap[K, V]) Validate() error {
	live := 0
	for i := range m.E {
		e := &m.E[i]
		if e.TS.Replica.IsZero() {
			return fmt.Errorf("lwwmap: %w: entry %d has no writer", ErrInvalidState, i)
		}
		if i > 0 && cmp.Compare(m.E[i-1].Key, e.Key) >= 0 {
			return fmt.Errorf("lwwmap: %w: entry %d (%v) is not after %v", ErrInvalidState, i, e.Key, m.E[i-1].Key)
		}
		if !e.Deleted {
			live++
		}
	}
	m.live = live
	return nil
}
