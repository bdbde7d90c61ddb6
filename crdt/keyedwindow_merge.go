package crdt

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Merge takes, per key, the per-(replica, bucket) maximum, with the
// WindowCounter's rules for which buckets are kept (see
// WindowCounter.Merge). Every replica whose buckets raised the receiver is
// heard at now. The effect holds, per key, the buckets of other that
// raised the receiver. A state with another configuration is ignored.
func (k *KeyedWindow) Merge(now time.Time, other *KeyedWindow) (effect *KeyedWindow, changed bool) {
	if other == nil || k == other || other.WindowLen != k.WindowLen || other.BucketCount != k.BucketCount {
		return nil, false
	}
	width := k.bucketWidth()
	if width == 0 {
		return nil, false
	}
	if k.index == nil {
		// A wire state (the outbox accumulates deltas in one): merge in
		// an index, then write the keys back.
		k.index = make(map[string]*keyEntry, len(k.Keys))
		for _, ks := range k.Keys {
			k.index[ks.Key] = &keyEntry{key: ks.Key, slots: ks.Slots}
		}
		defer func() {
			k.Keys = k.flatten(false)
			k.index = nil
		}()
	}
	cur := floorDiv(now.UnixNano(), width)
	B := int64(k.BucketCount)
	lo, hi := cur-B, cur+B
	var effKeys []KeySlots
	keys := other.Keys
	if other.index != nil { // a local state given as other
		keys = other.flatten(false)
	}
	for _, ks := range keys {
		e := k.index[ks.Key]
		var effSlots []WindowSlot
		for _, o := range ks.Slots {
			var mine []Bucket
			i, exists := 0, false
			if e != nil {
				i, exists = slices.BinarySearchFunc(e.slots, o.Replica, func(s WindowSlot, r Replica) int { return s.Replica.Compare(r) })
				if exists {
					mine = e.slots[i].Buckets
				}
			}
			merged, eff := mergeBuckets(mine, o.Buckets, lo, hi, B)
			if len(eff) == 0 {
				continue
			}
			effSlots = append(effSlots, WindowSlot{Replica: o.Replica, Buckets: eff})
			if k.heard != nil {
				k.heard[o.Replica] = now.UnixNano()
			}
			if e == nil {
				e = &keyEntry{key: ks.Key}
				k.index[ks.Key] = e
			}
			if exists {
				e.slots[i].Buckets = merged
			} else {
				e.slots = slices.Insert(e.slots, i, WindowSlot{Replica: o.Replica, Buckets: merged})
			}
			e.reindex(k.self)
		}
		if len(effSlots) > 0 {
			effKeys = append(effKeys, KeySlots{Key: ks.Key, Slots: effSlots})
		}
	}
	if len(effKeys) == 0 {
		return nil, false
	}
	return &KeyedWindow{WindowLen: k.WindowLen, BucketCount: k.BucketCount, Keys: effKeys}, true
}

func (k *KeyedWindow) bucketWidth() int64 {
	if k.width > 0 {
		return k.width
	}
	if checkWindowConfig(k.WindowLen, k.BucketCount) != nil {
		return 0
	}
	return int64(k.WindowLen) / int64(k.BucketCount)
}

// flatten returns the keys in wire form, sorted, deep-copied if copyBuckets.
func (k *KeyedWindow) flatten(copyBuckets bool) []KeySlots {
	if len(k.index) == 0 {
		return nil
	}
	out := make([]KeySlots, 0, len(k.index))
	for key, e := range k.index {
		if len(e.slots) == 0 {
			continue
		}
		slots := e.slots
		if copyBuckets {
			slots = make([]WindowSlot, len(e.slots))
			for i, s := range e.slots {
				slots[i] = WindowSlot{Replica: s.Replica, Buckets: slices.Clone(s.Buckets)}
			}
		}
		out = append(out, KeySlots{Key: key, Slots: slots})
	}
	slices.SortFunc(out, func(a, b KeySlots) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Delta returns, for every key counted locally since the last Delta, the
// own buckets changed since then.
func (k *KeyedWindow) Delta() (delta *KeyedWindow, ok bool) {
	if len(k.dirty) == 0 {
		return nil, false
	}
	// Three allocations per delta, not per key: the keys, their slots and
	// their buckets each share one backing array (capped, so that a merge
	// into a wire state that appends copies instead of overwriting).
	nb := 0
	for _, e := range k.dirty {
		if e.own != 0 {
			nb += len(e.slots[e.own-1].Buckets)
		}
	}
	keys := make([]KeySlots, 0, len(k.dirty))
	slots := make([]WindowSlot, 0, len(k.dirty))
	buckets := make([]Bucket, 0, nb)
	for _, e := range k.dirty {
		e.dirty, e.unsent = false, 0
		if e.own == 0 {
			continue
		}
		b := e.slots[e.own-1].Buckets
		j, _ := slices.BinarySearchFunc(b, e.dirtyFrom, func(x Bucket, idx int64) int { return cmpInt64(x.Index, idx) })
		if j == len(b) {
			continue
		}
		from := len(buckets)
		buckets = append(buckets, b[j:]...)
		slots = append(slots, WindowSlot{Replica: k.self, Buckets: buckets[from:len(buckets):len(buckets)]})
		keys = append(keys, KeySlots{Key: e.key, Slots: slots[len(slots)-1 : len(slots) : len(slots)]})
	}
	clear(k.dirty)
	k.dirty = k.dirty[:0]
	if len(keys) == 0 {
		return nil, false
	}
	slices.SortFunc(keys, func(a, b KeySlots) int { return strings.Compare(a.Key, b.Key) })
	return &KeyedWindow{WindowLen: k.WindowLen, BucketCount: k.BucketCount, Keys: keys}, true
}

// Clone returns a deep copy of the state as a wire state.
func (k *KeyedWindow) Clone() *KeyedWindow {
	c := k.Empty()
	if k.index != nil {
		c.Keys = k.flatten(true)
		return c
	}
	if len(k.Keys) > 0 {
		c.Keys = make([]KeySlots, len(k.Keys))
		for i, ks := range k.Keys {
			slots := make([]WindowSlot, len(ks.Slots))
			for j, s := range ks.Slots {
				slots[j] = WindowSlot{Replica: s.Replica, Buckets: slices.Clone(s.Buckets)}
			}
			c.Keys[i] = KeySlots{Key: ks.Key, Slots: slots}
		}
	}
	return c
}

// Empty returns an empty wire state with the same configuration.
func (k *KeyedWindow) Empty() *KeyedWindow {
	return &KeyedWindow{
		WindowLen:   k.WindowLen,
		BucketCount: k.BucketCount,
		wantWindow:  k.WindowLen,
		wantBuckets: k.BucketCount,
		width:       k.bucketWidth(),
	}
}

// Validate checks a decoded state: the configuration of the Empty it was
// decoded into (else ErrConfigMismatch), keys sorted and unique, and for
// every key the WindowCounter's slot invariants (else ErrInvalidState).
func (k *KeyedWindow) Validate() error {
	if k.wantBuckets != 0 && (k.WindowLen != k.wantWindow || k.BucketCount != k.wantBuckets) {
		return fmt.Errorf("keyedwindow: %w: state has window %v in %d buckets, want %v in %d",
			ErrConfigMismatch, k.WindowLen, k.BucketCount, k.wantWindow, k.wantBuckets)
	}
	if err := checkWindowConfig(k.WindowLen, k.BucketCount); err != nil {
		return fmt.Errorf("keyedwindow: %w: %w", ErrInvalidState, err)
	}
	width := int64(k.WindowLen) / int64(k.BucketCount)
	minIdx, maxIdx := math.MinInt64/width, math.MaxInt64/width
	for i, ks := range k.Keys {
		if i > 0 && k.Keys[i-1].Key >= ks.Key {
			return fmt.Errorf("keyedwindow: %w: key %q is not after %q", ErrInvalidState, ks.Key, k.Keys[i-1].Key)
		}
		if len(ks.Slots) == 0 {
			return fmt.Errorf("keyedwindow: %w: key %q has no slots", ErrInvalidState, ks.Key)
		}
		for j, s := range ks.Slots {
			if s.Replica.IsZero() {
				return fmt.Errorf("keyedwindow: %w: key %q has the zero replica", ErrInvalidState, ks.Key)
			}
			if j > 0 && ks.Slots[j-1].Replica.Compare(s.Replica) >= 0 {
				return fmt.Errorf("keyedwindow: %w: key %q slot %s is not after %s", ErrInvalidState, ks.Key, s.Replica, ks.Slots[j-1].Replica)
			}
			b := s.Buckets
			if len(b) == 0 {
				return fmt.Errorf("keyedwindow: %w: key %q slot %s has no buckets", ErrInvalidState, ks.Key, s.Replica)
			}
			if uint64(b[len(b)-1].Index)-uint64(b[0].Index) > uint64(k.BucketCount) {
				return fmt.Errorf("keyedwindow: %w: key %q slot %s spans more than %d buckets", ErrInvalidState, ks.Key, s.Replica, k.BucketCount+1)
			}
			for m, x := range b {
				if x.N == 0 || x.Index < minIdx || x.Index > maxIdx || (m > 0 && b[m-1].Index >= x.Index) {
					return fmt.Errorf("keyedwindow: %w: key %q slot %s bucket %d is empty, out of range or out of order", ErrInvalidState, ks.Key, s.Replica, x.Index)
				}
			}
		}
	}
	k.width = width
	return nil
}
