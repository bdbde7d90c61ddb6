package crdt

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// PNCounterMap is a map of PN-counters, one per key, in one value: the
// per-tenant request count, the quota used per customer. Each replica adds
// to its own slot of a key; a key's value is the sum of its slots.
//
// # Deletes and idle keys
//
// Delete is an observed reset: it records, per replica, the counts the
// deleting replica had seen (the key's floors), and a key's value counts
// only what lies above them. An increment the deleting replica had not
// seen, concurrent with the delete, survives it (add-wins); what it had
// seen is gone on every replica once the delete arrives. Floors and slots
// both merge by maximum, so the rule is a join like the counters'.
//
// A key not written for IdleTTL expires: it reads as absent, and an Add to
// it resets it first, exactly as if it had been deleted at that instant.
// Expiry is a function of the key's stamp (the wall time of its last
// write, merged by maximum), so replicas agree on it without coordination,
// up to their clock skew. ExpireSome drops expired keys from memory a few
// at a time; Merge refuses an expired key it does not hold, so a peer that
// still holds one cannot bring it back.
//
// # Bounds
//
// At most MaxKeys keys: an Add of a new key beyond it is refused
// (reported by AddAt), and Merge ignores new keys beyond it (counted in
// Refused). Counts are bounded by CounterMapMaxCount.
//
// # Encoding
//
// A wire state lists the replicas it mentions once (R, sorted) and refers
// to them by index, so a key written by three replicas costs three small
// slots, not three replica names. Keys are sorted by cmp.Compare, so equal
// states encode to equal bytes.
//
// The zero value is an empty wire state. A PNCounterMap is not safe for
// concurrent use; the caller serialises access.
type PNCounterMap[K cmp.Ordered] struct {
	// R lists the replicas the state mentions; slots refer to them by
	// index. In a wire state it is sorted and holds no duplicates; in a
	// local state it only grows (see Validate).
	R []Replica `cbor:"1,keyasint,omitempty"`
	// E holds the keys: sorted by Key in a wire state, in insertion order
	// (indexed by idx) in a local one.
	E []CounterMapEntry[K] `cbor:"2,keyasint,omitempty"`

	// Local bookkeeping, not replicated.
	local  bool
	self   Replica
	selfR  uint32 // index of self in R
	rIndex map[Replica]uint32
	idx    map[K]int32
	opts   CounterMapOptions
	dirty  []int32 // entries written locally since the last Delta
	// kind is parallel to E: 0 clean, 1 own slot changed, 2 reset (the
	// whole key goes into the next delta).
	kind   []uint8
	cursor int // where ExpireSome resumes

	// Refused counts keys Merge ignored: expired, over MaxKeys, or
	// stamped beyond MaxSkew in the future.
	Refused uint64 `cbor:"-"`
}

// CounterMapEntry is one key of a PNCounterMap.
type CounterMapEntry[K cmp.Ordered] struct {
	_ struct{} `cbor:",toarray"`
	// Key is the map key.
	Key K
	// Stamp is the wall time of the key's last write, in Unix
	// milliseconds, merged by maximum; expiry is measured from it.
	Stamp int64
	// Slots holds, sorted by R, first each writing replica's increments
	// and decrements (R is an index into the state's R), then the key's
	// floors (R has FloorBit set): the counts the key's deletes had
	// observed, per replica; only what lies above them counts. One list
	// keeps a key that was never deleted at three words.
	Slots []CounterMapSlot
}

// CounterMapSlot is one replica's share of a key: increments P and
// decrements N; or, with FloorBit set in R, the counts a delete observed.
type CounterMapSlot struct {
	_ struct{} `cbor:",toarray"`
	R uint32
	P uint64
	N uint64
}

// FloorBit marks a CounterMapSlot that is a floor, not a count.
const FloorBit = 1 << 31

// split returns the counts and the floors of a key's slots.
func (e *CounterMapEntry[K]) split() (counts, floors []CounterMapSlot) {
	i := len(e.Slots)
	for i > 0 && e.Slots[i-1].R&FloorBit != 0 {
		i--
	}
	return e.Slots[:i], e.Slots[i:]
}

// CounterMapOptions configures a PNCounterMap.
type CounterMapOptions struct {
	// IdleTTL expires a key not written for this long (0: never).
	IdleTTL time.Duration
	// MaxKeys bounds the keys held (0: DefaultCounterMapMaxKeys).
	MaxKeys int
	// MaxSkew is how far in the future a peer's stamp may be (0:
	// DefaultMaxSkew); a key stamped beyond it is refused.
	MaxSkew time.Duration
}

// DefaultCounterMapMaxKeys is the default bound on keys per map.
const DefaultCounterMapMaxKeys = 100_000

// CounterMapMaxCount bounds every count in a PNCounterMap: 2^62, far from
// overflow even when thousands of slots are summed, and beyond what any
// replica counts in years.
const CounterMapMaxCount = 1 << 62

var _ Value[*PNCounterMap[string]] = (*PNCounterMap[string])(nil)

// NewPNCounterMap returns an empty map owned by self.
func NewPNCounterMap[K cmp.Ordered](self Replica, opts CounterMapOptions) *PNCounterMap[K] {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultCounterMapMaxKeys
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = DefaultMaxSkew
	}
	m := &PNCounterMap[K]{local: true, self: self, opts: opts, rIndex: make(map[Replica]uint32), idx: make(map[K]int32)}
	m.selfR = m.replica(self)
	return m
}

// replica returns r's index in the local R, adding it if it is new.
func (m *PNCounterMap[K]) replica(r Replica) uint32 {
	if i, ok := m.rIndex[r]; ok {
		return i
	}
	i := uint32(len(m.R))
	m.R = append(m.R, r)
	m.rIndex[r] = i
	return i
}

func stampOf(t time.Time) int64 { return t.UnixMilli() }

func (m *PNCounterMap[K]) expired(e *CounterMapEntry[K], now time.Time) bool {
	return m.opts.IdleTTL > 0 && e.Stamp < stampOf(now.Add(-m.opts.IdleTTL))
}

// AddAt adds n to key k at wall time now (negative n subtracts). It
// reports false, changing nothing, when k is new and the map already holds
// MaxKeys keys. For a key the map holds it allocates nothing.
func (m *PNCounterMap[K]) AddAt(now time.Time, k K, n int64) bool {
	i, ok := m.idx[k]
	if !ok {
		if len(m.E) >= m.opts.MaxKeys {
			return false
		}
		i = m.appendKey(k)
	}
	e := &m.E[i]
	if m.expired(e, now) {
		m.reset(e)
	}
	if s := stampOf(now); s > e.Stamp {
		e.Stamp = s
	}
	if n != 0 {
		s := slotFor(&e.Slots, m.selfR)
		if n > 0 {
			s.P = min(satAdd(s.P, uint64(n)), CounterMapMaxCount)
		} else {
			s.N = min(satAdd(s.N, uint64(^n)+1), CounterMapMaxCount)
		}
	}
	m.markDirty(i, 1)
	return true
}

// DeleteAt deletes k at wall time now: an observed reset (see the type's
// documentation). Deleting an absent key does nothing.
func (m *PNCounterMap[K]) DeleteAt(now time.Time, k K) {
	i, ok := m.idx[k]
	if !ok {
		return
	}
	e := &m.E[i]
	m.reset(e)
	if s := stampOf(now); s > e.Stamp {
		e.Stamp = s
	}
	m.markDirty(i, 2)
}

// appendKey adds an empty entry for k and returns its index.
func (m *PNCounterMap[K]) appendKey(k K) int32 {
	i := int32(len(m.E))
	m.E = append(m.E, CounterMapEntry[K]{Key: k})
	if m.local {
		m.kind = append(m.kind, 0)
	}
	m.idx[k] = i
	return i
}

// reset raises the key's floors to its counts: everything counted so far
// is gone.
func (m *PNCounterMap[K]) reset(e *CounterMapEntry[K]) {
	counts, _ := e.split()
	for j := range len(counts) {
		s := e.Slots[j] // slotFor below may move the slice: index afresh
		f := slotFor(&e.Slots, s.R|FloorBit)
		f.P, f.N = max(f.P, s.P), max(f.N, s.N)
	}
	if i, ok := m.idx[e.Key]; ok && m.local {
		m.markDirty(i, 2)
	}
}

func (m *PNCounterMap[K]) markDirty(i int32, kind uint8) {
	if m.kind[i] == 0 {
		m.dirty = append(m.dirty, i)
	}
	m.kind[i] = max(m.kind[i], kind)
}

// slotFor returns the slot with this R (an index, with FloorBit for a
// floor) in the sorted slots, inserting a zero one if there is none. A new
// slot is inserted without spare capacity: keys are many and their
// writers few.
func slotFor(slots *[]CounterMapSlot, r uint32) *CounterMapSlot {
	s := *slots
	// Slots are few (the replicas that wrote one key): a linear scan
	// beats a binary search.
	i := 0
	for ; i < len(s) && s[i].R < r; i++ {
	}
	if i == len(s) || s[i].R != r {
		grown := make([]CounterMapSlot, len(s)+1)
		copy(grown, s[:i])
		grown[i] = CounterMapSlot{R: r}
		copy(grown[i+1:], s[i:])
		*slots, s = grown, grown
	}
	return &s[i]
}

// ValueAt returns k's value at wall time now; ok is false when the map
// does not hold k or k has expired.
func (m *PNCounterMap[K]) ValueAt(now time.Time, k K) (v int64, ok bool) {
	i, found := m.idx[k]
	if !found || m.expired(&m.E[i], now) {
		return 0, false
	}
	return m.E[i].value(), true
}

// value sums the slots above the floors, saturating at the int64 range.
func (e *CounterMapEntry[K]) value() int64 {
	var p, n uint64
	counts, floors := e.split()
	j := 0
	for _, s := range counts {
		var fp, fn uint64
		for ; j < len(floors) && floors[j].R&^FloorBit < s.R; j++ {
		}
		if j < len(floors) && floors[j].R&^FloorBit == s.R {
			fp, fn = floors[j].P, floors[j].N
		}
		if s.P > fp {
			p = satAdd(p, s.P-fp)
		}
		if s.N > fn {
			n = satAdd(n, s.N-fn)
		}
	}
	if p >= n {
		return int64(min(p-n, math.MaxInt64))
	}
	if d := n - p; d <= 1<<63 {
		return int64(-d)
	}
	return math.MinInt64
}

// RangeAt calls fn for every key live at now, in no particular order,
// until fn returns false.
func (m *PNCounterMap[K]) RangeAt(now time.Time, fn func(k K, v int64) bool) {
	for i := range m.E {
		if e := &m.E[i]; !m.expired(e, now) && !fn(e.Key, e.value()) {
			return
		}
	}
}

// AppendLive appends to keys and vals up to limit live keys (at now) and
// their values, starting at position start of the map's internal order,
// and returns them with the position to resume from (Len() when done).
// Paging through a large map this way lets the caller release its lock
// between pages; a key added or expired meanwhile may be missed or seen
// twice.
func (m *PNCounterMap[K]) AppendLive(now time.Time, start, limit int, keys []K, vals []int64) ([]K, []int64, int) {
	i := max(start, 0)
	for ; i < len(m.E) && limit > 0; i++ {
		if e := &m.E[i]; !m.expired(e, now) {
			keys, vals = append(keys, e.Key), append(vals, e.value())
			limit--
		}
	}
	return keys, vals, i
}

// Len returns the number of keys held, expired ones not yet dropped by
// ExpireSome included.
func (m *PNCounterMap[K]) Len() int { return len(m.E) }

// ExpireSome continues a sweep over the keys, examining at most 16·max of
// them and dropping those that have expired at now (at most max), and
// reports how many it dropped and whether the sweep has more to examine;
// the call after one that reported more=false starts a new sweep. Calling
// it with a small max keeps the time the caller holds its lock short
// whatever the number of keys (swarm's expiry loop calls it until more is
// false, once a second, releasing the lock between calls).
func (m *PNCounterMap[K]) ExpireSome(now time.Time, max int) (dropped int, more bool) {
	if m.opts.IdleTTL <= 0 || len(m.E) == 0 {
		m.cursor = 0
		return 0, false
	}
	for budget := 16 * max; budget > 0 && dropped < max; budget-- {
		if m.cursor >= len(m.E) {
			m.cursor = 0
			return dropped, false
		}
		e := &m.E[m.cursor]
		if m.expired(e, now) && m.kind[m.cursor] == 0 {
			m.remove(int32(m.cursor)) // the last entry moves here: examine it next
			dropped++
			continue
		}
		m.cursor++
	}
	if m.cursor >= len(m.E) {
		m.cursor = 0
		return dropped, false
	}
	return dropped, true
}

// remove drops entry i, moving the last entry into its place.
func (m *PNCounterMap[K]) remove(i int32) {
	last := int32(len(m.E) - 1)
	delete(m.idx, m.E[i].Key)
	if i != last {
		m.E[i], m.kind[i] = m.E[last], m.kind[last]
		m.idx[m.E[i].Key] = i
		if m.kind[i] != 0 {
			if j := slices.Index(m.dirty, last); j >= 0 {
				m.dirty[j] = i
			}
		}
	}
	m.E[last] = CounterMapEntry[K]{}
	m.E, m.kind = m.E[:last], m.kind[:last]
}
