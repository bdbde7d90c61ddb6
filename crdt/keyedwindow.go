package crdt

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// KeySlots is one key's per-replica buckets in the wire form of a
// KeyedWindow.
type KeySlots struct {
	_     struct{} `cbor:",toarray"`
	Key   string
	Slots []WindowSlot
}

// KeyedWindow is a WindowCounter per string key, in one value: a keyed
// rate limiter counts each client key in its own window, and thousands of
// keys travel as one delta per flush instead of one value each. Every key
// has the WindowCounter's model (B buckets per window, per-replica slots,
// per-(replica, bucket) maximum on merge, buckets older than the window
// dropped by themselves); a key with no bucket left disappears.
//
// A local state (from NewKeyedWindow) keeps its keys in a map for O(1)
// access; the exported Keys field is used by wire states only (Delta,
// Clone, Merge's effect, and decoded states), sorted by key. It also
// remembers, per replica, when a merge last brought news from it
// (HeardAt), which a rate limiter uses to extrapolate silent peers.
//
// The zero value is unusable; use NewKeyedWindow. Not safe for concurrent
// use; the caller serialises access.
type KeyedWindow struct {
	WindowLen   time.Duration `cbor:"1,keyasint"`
	BucketCount int           `cbor:"2,keyasint"`
	Keys        []KeySlots    `cbor:"3,keyasint,omitempty"`

	self        Replica
	wantWindow  time.Duration
	wantBuckets int
	width       int64
	index       map[string]*keyEntry // nil in wire states
	dirty       []*keyEntry
	heard       map[Replica]int64
}

// keyEntry is one key of a local state.
type keyEntry struct {
	key       string
	slots     []WindowSlot // sorted by Replica
	own       int          // index+1 of self's slot, 0 when none
	dirty     bool
	dirtyFrom int64
	unsent    uint64 // counted by AddAt since the last Delta
}

var _ Value[*KeyedWindow] = (*KeyedWindow)(nil)

// NewKeyedWindow returns an empty keyed counter owned by self; window and
// buckets are as for NewWindowCounter, with the same errors.
func NewKeyedWindow(self Replica, window time.Duration, buckets int) (*KeyedWindow, error) {
	if err := checkWindowConfig(window, buckets); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return &KeyedWindow{
		WindowLen:   window,
		BucketCount: buckets,
		self:        self,
		wantWindow:  window,
		wantBuckets: buckets,
		width:       int64(window) / int64(buckets),
		index:       make(map[string]*keyEntry),
		heard:       make(map[Replica]int64),
	}, nil
}

// Window returns the window length W.
func (k *KeyedWindow) Window() time.Duration { return k.WindowLen }

// Buckets returns the bucket count B.
func (k *KeyedWindow) Buckets() int { return k.BucketCount }

// Len returns the number of keys held.
func (k *KeyedWindow) Len() int {
	if k.index == nil {
		return len(k.Keys)
	}
	return len(k.index)
}

// Slots returns key's per-replica buckets, sorted by replica, or nil. The
// slice is the state's own: the caller must not modify or keep it past
// the next call on k. It allocates nothing.
func (k *KeyedWindow) Slots(key string) []WindowSlot {
	if e := k.index[key]; e != nil {
		return e.slots
	}
	return nil
}

// Unsent returns how many events of key this replica counted since the
// last Delta: what no peer can know of yet. A rate limiter uses it to
// share fresh room with the peers that compete for the same key.
func (k *KeyedWindow) Unsent(key string) uint64 {
	if e := k.index[key]; e != nil {
		return e.unsent
	}
	return 0
}

// HeardAt returns when a Merge last brought news from replica r (the now
// given to that Merge), and false if it never did.
func (k *KeyedWindow) HeardAt(r Replica) (time.Time, bool) {
	ns, ok := k.heard[r]
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// HeardAtNanos is HeardAt in Unix nanoseconds, 0 if never; for hot paths.
func (k *KeyedWindow) HeardAtNanos(r Replica) int64 { return k.heard[r] }

// AddAt counts n events of key at now in the replica's own slot, as
// WindowCounter.AddAt does. It allocates only for a new key or while a
// key's slot grows to its B+1 buckets.
func (k *KeyedWindow) AddAt(now time.Time, key string, n uint64) {
	if n == 0 || k.index == nil || k.self.IsZero() {
		return
	}
	idx := floorDiv(now.UnixNano(), k.width)
	e := k.index[key]
	if e == nil {
		e = &keyEntry{key: key}
		k.index[key] = e
	}
	if e.own == 0 {
		i, _ := slices.BinarySearchFunc(e.slots, k.self, func(s WindowSlot, r Replica) int { return s.Replica.Compare(r) })
		e.slots = slices.Insert(e.slots, i, WindowSlot{Replica: k.self})
		e.reindex(k.self)
	}
	s := &e.slots[e.own-1]
	B := int64(k.BucketCount)
	b := s.Buckets
	switch l := len(b); {
	case l > 0 && b[l-1].Index == idx:
		b[l-1].N = satAdd(b[l-1].N, n)
	case l == 0 || idx > b[l-1].Index:
		j := 0
		for j < len(b) && b[j].Index < idx-B {
			j++
		}
		if j > 0 {
			b = append(b[:0], b[j:]...)
		}
		s.Buckets = append(b, Bucket{Index: idx, N: n})
	default: // now went backwards
		if idx < b[l-1].Index-B {
			return
		}
		j, found := slices.BinarySearchFunc(b, idx, func(x Bucket, idx int64) int { return cmpInt64(x.Index, idx) })
		if found {
			b[j].N = satAdd(b[j].N, n)
		} else {
			s.Buckets = slices.Insert(b, j, Bucket{Index: idx, N: n})
		}
	}
	e.unsent = satAdd(e.unsent, n)
	if !e.dirty {
		e.dirty, e.dirtyFrom = true, idx
		k.dirty = append(k.dirty, e)
	} else if idx < e.dirtyFrom {
		e.dirtyFrom = idx
	}
}

func (e *keyEntry) reindex(self Replica) {
	e.own = 0
	for i := range e.slots {
		if e.slots[i].Replica == self {
			e.own = i + 1
			return
		}
	}
}

// Expire drops, in every key, the buckets that ended before the window of
// now began (and those more than a window ahead), and the keys left with
// none. It returns how many keys it dropped. Call it periodically: keys
// nobody counts any more are touched by nothing else.
func (k *KeyedWindow) Expire(now time.Time) int {
	if k.index == nil {
		return 0
	}
	cur := floorDiv(now.UnixNano(), k.width)
	B := int64(k.BucketCount)
	dropped := 0
	for key, e := range k.index {
		if !e.trim(cur-B, cur+B) {
			k.drop(key, e)
			dropped++
		} else {
			e.reindex(k.self)
		}
	}
	for r, t := range k.heard {
		if floorDiv(t, k.width) < cur-B {
			delete(k.heard, r)
		}
	}
	return dropped
}

// trim keeps the buckets in [lo, hi]; it reports whether any is left.
func (e *keyEntry) trim(lo, hi int64) bool {
	kept := e.slots[:0]
	for _, s := range e.slots {
		b := s.Buckets
		i := 0
		for i < len(b) && b[i].Index < lo {
			i++
		}
		j := len(b)
		for j > i && b[j-1].Index > hi {
			j--
		}
		if j > i {
			if i > 0 || j < len(b) {
				s.Buckets = append(b[:0], b[i:j]...)
			}
			kept = append(kept, s)
		}
	}
	clear(e.slots[len(kept):])
	e.slots = kept
	return len(kept) > 0
}

func (k *KeyedWindow) drop(key string, e *keyEntry) {
	delete(k.index, key)
	if e.dirty {
		e.dirty = false
		k.dirty = slices.DeleteFunc(k.dirty, func(x *keyEntry) bool { return x == e })
	}
}

// Evict removes up to n keys locally, those whose newest bucket is oldest
// first, and returns how many it removed. Like LWWMap.Purge it is local
// only: peers keep the keys, and a later merge may bring them back. A
// keyed rate limiter uses it to bound memory.
func (k *KeyedWindow) Evict(n int) int {
	if k.index == nil || n <= 0 {
		return 0
	}
	type aged struct {
		key    string
		newest int64
	}
	all := make([]aged, 0, len(k.index))
	for key, e := range k.index {
		newest := int64(math.MinInt64)
		for _, s := range e.slots {
			if l := len(s.Buckets); l > 0 {
				newest = max(newest, s.Buckets[l-1].Index)
			}
		}
		all = append(all, aged{key, newest})
	}
	slices.SortFunc(all, func(a, b aged) int {
		if c := cmp.Compare(a.newest, b.newest); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	n = min(n, len(all))
	for _, a := range all[:n] {
		k.drop(a.key, k.index[a.key])
	}
	return n
}
