package crdt

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Merge takes the per-(replica, bucket) maximum. It keeps per replica only
// the B+1 buckets up to its newest, drops buckets that ended before the
// window of now began (older than now−W−width) and buckets more than one
// window ahead of now, from both states. The effect holds the buckets of
// other that raised the receiver. A state with a different configuration
// is ignored (Validate reports it as ErrConfigMismatch); dropping expired
// buckets alone does not count as a change.
func (w *WindowCounter) Merge(now time.Time, other *WindowCounter) (effect *WindowCounter, changed bool) {
	if other == nil || w == other || other.WindowLen != w.WindowLen || other.BucketCount != w.BucketCount {
		return nil, false
	}
	cur, _, ok := w.at(now)
	if !ok {
		return nil, false
	}
	B := int64(w.BucketCount)
	lo, hi := cur-B, cur+B // buckets kept by now: [lo, hi]

	var effSlots, ins []WindowSlot
	i := 0
	for _, o := range other.Slots {
		for i < len(w.Slots) && w.Slots[i].Replica.Compare(o.Replica) < 0 {
			i++
		}
		var mine []Bucket
		exists := i < len(w.Slots) && w.Slots[i].Replica == o.Replica
		if exists {
			mine = w.Slots[i].Buckets
		}
		merged, eff := mergeBuckets(mine, o.Buckets, lo, hi, B)
		if len(eff) == 0 {
			continue
		}
		effSlots = append(effSlots, WindowSlot{Replica: o.Replica, Buckets: eff})
		if exists {
			w.Slots[i].Buckets = merged
		} else {
			ins = append(ins, WindowSlot{Replica: o.Replica, Buckets: merged})
		}
	}
	if len(ins) > 0 {
		w.Slots = insertSorted(w.Slots, ins, func(a, b WindowSlot) int { return a.Replica.Compare(b.Replica) })
	}
	w.trim(lo, hi)
	if len(effSlots) == 0 {
		return nil, false
	}
	return &WindowCounter{WindowLen: w.WindowLen, BucketCount: w.BucketCount, Slots: effSlots}, true
}

// mergeBuckets returns the union of two sorted bucket lists (maximum per
// index) restricted to [lo, hi] and to the B+1 buckets up to the newest,
// in a new slice, and the buckets of theirs that raised mine. merged is
// only meaningful when eff is not empty.
func mergeBuckets(mine, theirs []Bucket, lo, hi, B int64) (merged, eff []Bucket) {
	newest := max(newestUpTo(mine, hi), newestUpTo(theirs, hi))
	if newest == math.MinInt64 {
		return nil, nil
	}
	lo = max(lo, newest-B)
	keep := func(x Bucket) bool { return x.Index >= lo && x.Index <= hi && x.N > 0 }
	for i, j := 0, 0; j < len(theirs); j++ {
		t := theirs[j]
		if !keep(t) {
			continue
		}
		for i < len(mine) && mine[i].Index < t.Index {
			i++
		}
		if i < len(mine) && mine[i].Index == t.Index && mine[i].N >= t.N {
			continue
		}
		eff = append(eff, Bucket{Index: t.Index, N: t.N})
	}
	if len(eff) == 0 {
		return nil, nil
	}
	if inPlace(mine, eff) {
		// The common delta: it raises buckets mine has or adds newer ones.
		// mine belongs to the receiver alone (Delta and Clone copy), so
		// update it in place instead of allocating B+1 buckets per merge.
		merged = mine
		for _, e := range eff {
			if k, found := slices.BinarySearchFunc(merged, e.Index, cmpBucketIndex); found {
				merged[k].N = e.N
			} else {
				merged = append(merged, e)
			}
		}
		k, m := 0, len(merged)
		for k < m && merged[k].Index < lo {
			k++
		}
		for m > k && merged[m-1].Index > hi {
			m--
		}
		return merged[k:m], eff
	}
	merged = make([]Bucket, 0, min(len(mine)+len(eff), int(B)+1))
	for i, j := 0, 0; i < len(mine) || j < len(eff); {
		var x Bucket
		switch {
		case j == len(eff) || i < len(mine) && mine[i].Index < eff[j].Index:
			x = mine[i]
			i++
		case i == len(mine) || mine[i].Index > eff[j].Index:
			x = eff[j]
			j++
		default: // same index: eff's is larger
			x = eff[j]
			i++
			j++
		}
		if keep(x) {
			merged = append(merged, x)
		}
	}
	return merged, eff
}

// inPlace reports whether every bucket of eff (sorted) either exists in
// mine or comes after mine's newest, so the merge can update mine in place.
func inPlace(mine, eff []Bucket) bool {
	if len(mine) == 0 {
		return false
	}
	last := mine[len(mine)-1].Index
	for _, e := range eff {
		if e.Index > last {
			return true // eff is sorted: the rest are newer too
		}
		if _, found := slices.BinarySearchFunc(mine, e.Index, cmpBucketIndex); !found {
			return false
		}
	}
	return true
}

func cmpBucketIndex(b Bucket, idx int64) int { return cmpInt64(b.Index, idx) }

// newestUpTo returns the highest index in b not after hi, MinInt64 if none.
func newestUpTo(b []Bucket, hi int64) int64 {
	for j := len(b) - 1; j >= 0; j-- {
		if b[j].Index <= hi {
			return b[j].Index
		}
	}
	return math.MinInt64
}

// trim drops buckets outside [lo, hi] and slots left empty, and finds the
// own slot again.
func (w *WindowCounter) trim(lo, hi int64) int {
	dropped := 0
	kept := w.Slots[:0]
	for _, s := range w.Slots {
		b := s.Buckets
		k := 0
		for k < len(b) && b[k].Index < lo {
			k++
		}
		m := len(b)
		for m > k && b[m-1].Index > hi {
			m--
		}
		dropped += k + len(b) - m
		if m > k {
			s.Buckets = b[k:m]
			kept = append(kept, s)
		}
	}
	clear(w.Slots[len(kept):])
	if len(kept) == 0 {
		kept = nil
	}
	w.Slots = kept
	w.own = 0
	if !w.self.IsZero() {
		if i, ok := w.search(w.self); ok {
			w.own = i + 1
		}
	}
	return dropped
}

// Expire drops the buckets that ended before the window of now began, and
// those more than one window ahead of now, and the replicas left with no
// bucket. It returns how many buckets it dropped. ValueAt ignores such
// buckets anyway; Expire bounds memory for replicas that stopped counting
// (departed or idle), whose slots no AddAt or Merge touches.
func (w *WindowCounter) Expire(now time.Time) int {
	cur, _, ok := w.at(now)
	if !ok {
		return 0
	}
	B := int64(w.BucketCount)
	return w.trim(cur-B, cur+B)
}

// Delta returns the own buckets changed since the last Delta.
func (w *WindowCounter) Delta() (delta *WindowCounter, ok bool) {
	if !w.dirty {
		return nil, false
	}
	w.dirty = false
	i := w.own - 1
	if uint(i) >= uint(len(w.Slots)) {
		return nil, false
	}
	b := w.Slots[i].Buckets
	j, _ := slices.BinarySearchFunc(b, w.dirtyFrom, func(x Bucket, idx int64) int { return cmpInt64(x.Index, idx) })
	if j == len(b) {
		return nil, false
	}
	return &WindowCounter{
		WindowLen:   w.WindowLen,
		BucketCount: w.BucketCount,
		Slots:       []WindowSlot{{Replica: w.self, Buckets: slices.Clone(b[j:])}},
	}, true
}

// Clone returns a deep copy of the state as a wire state.
func (w *WindowCounter) Clone() *WindowCounter {
	c := w.Empty()
	if len(w.Slots) > 0 {
		c.Slots = make([]WindowSlot, len(w.Slots))
		for i, s := range w.Slots {
			c.Slots[i] = WindowSlot{Replica: s.Replica, Buckets: slices.Clone(s.Buckets)}
		}
	}
	return c
}

// Empty returns an empty wire state with the same configuration, which
// Validate requires of the state decoded into it.
func (w *WindowCounter) Empty() *WindowCounter {
	return &WindowCounter{
		WindowLen:   w.WindowLen,
		BucketCount: w.BucketCount,
		wantWindow:  w.WindowLen,
		wantBuckets: w.BucketCount,
		width:       w.bucketWidth(),
	}
}

// Validate checks a decoded state. A configuration different from the one
// of the Empty it was decoded into is an error wrapping ErrConfigMismatch;
// broken invariants (unsorted or duplicate replicas or buckets, empty
// slots, zero counts, more than B+1 buckets per replica, indices whose
// times overflow) wrap ErrInvalidState.
func (w *WindowCounter) Validate() error {
	if w.wantBuckets != 0 && (w.WindowLen != w.wantWindow || w.BucketCount != w.wantBuckets) {
		return fmt.Errorf("windowcounter: %w: state has window %v in %d buckets, want %v in %d",
			ErrConfigMismatch, w.WindowLen, w.BucketCount, w.wantWindow, w.wantBuckets)
	}
	if err := checkWindowConfig(w.WindowLen, w.BucketCount); err != nil {
		return fmt.Errorf("windowcounter: %w: %w", ErrInvalidState, err)
	}
	width := int64(w.WindowLen) / int64(w.BucketCount)
	minIdx, maxIdx := math.MinInt64/width, math.MaxInt64/width
	for i, s := range w.Slots {
		if s.Replica.IsZero() {
			return fmt.Errorf("windowcounter: %w: slot %d has the zero replica", ErrInvalidState, i)
		}
		if i > 0 && w.Slots[i-1].Replica.Compare(s.Replica) >= 0 {
			return fmt.Errorf("windowcounter: %w: slot %d (%s) is not after %s", ErrInvalidState, i, s.Replica, w.Slots[i-1].Replica)
		}
		b := s.Buckets
		if len(b) == 0 {
			return fmt.Errorf("windowcounter: %w: slot %s has no buckets", ErrInvalidState, s.Replica)
		}
		if uint64(b[len(b)-1].Index)-uint64(b[0].Index) > uint64(w.BucketCount) {
			return fmt.Errorf("windowcounter: %w: slot %s spans more than %d buckets", ErrInvalidState, s.Replica, w.BucketCount+1)
		}
		for j, x := range b {
			if x.N == 0 {
				return fmt.Errorf("windowcounter: %w: slot %s bucket %d is empty", ErrInvalidState, s.Replica, x.Index)
			}
			if x.Index < minIdx || x.Index > maxIdx {
				return fmt.Errorf("windowcounter: %w: slot %s bucket index %d is out of range", ErrInvalidState, s.Replica, x.Index)
			}
			if j > 0 && b[j-1].Index >= x.Index {
				return fmt.Errorf("windowcounter: %w: slot %s bucket %d is not after %d", ErrInvalidState, s.Replica, x.Index, b[j-1].Index)
			}
		}
	}
	w.width = width
	w.own = 0
	if !w.self.IsZero() {
		if i, ok := w.search(w.self); ok {
			w.own = i + 1
		}
	}
	return nil
}

// Check reports whether other may be merged into w within b (see
// Bounded): every bucket at most b.MaxCount; for a non-zero origin, only origin's slot, each bucket raised by at most
// b.MaxStep (a bucket w lacks counts from 0); at most b.MaxReplicas slots
// after the merge.
func (w *WindowCounter) Check(other *WindowCounter, origin Replica, b Bounds) error {
	if other == nil {
		return nil
	}
	bound := !origin.IsZero()
	added, i := 0, 0
	for _, o := range other.Slots {
		if bound && o.Replica != origin {
			return outOfBounds(ErrForeignWrite, "slot %s in a message from %s", o.Replica, origin)
		}
		i = seek(w.Slots, i, o.Replica, len(other.Slots), func(s WindowSlot) Replica { return s.Replica })
		var mine []Bucket
		if i < len(w.Slots) && w.Slots[i].Replica == o.Replica {
			mine = w.Slots[i].Buckets
		} else {
			added++
		}
		k := 0
		for _, x := range o.Buckets {
			for k < len(mine) && mine[k].Index < x.Index {
				k++
			}
			var n uint64
			if k < len(mine) && mine[k].Index == x.Index {
				n = mine[k].N
			}
			if err := checkCount(o.Replica, x.N, n, true, bound, b); err != nil {
				return fmt.Errorf("bucket %d: %w", x.Index, err)
			}
		}
	}
	return checkReplicas(len(w.Slots), added, b)
}

// Sanitize drops the buckets above b.MaxCount and the slots left empty
// (see Bounded).
func (w *WindowCounter) Sanitize(b Bounds) int {
	ceiling := b.MaxCount
	if ceiling == 0 {
		return 0
	}
	dropped := 0
	for i := range w.Slots {
		s := &w.Slots[i]
		kept := s.Buckets[:0]
		for _, x := range s.Buckets {
			if x.N <= ceiling {
				kept = append(kept, x)
			}
		}
		dropped += len(s.Buckets) - len(kept)
		s.Buckets = kept
	}
	if dropped == 0 {
		return 0
	}
	kept := w.Slots[:0]
	for _, s := range w.Slots {
		if len(s.Buckets) > 0 {
			kept = append(kept, s)
		}
	}
	clear(w.Slots[len(kept):])
	w.Slots = kept
	if len(w.Slots) == 0 {
		w.Slots = nil
	}
	w.own = 0
	if i, ok := w.search(w.self); ok && !w.self.IsZero() {
		w.own = i + 1
	}
	return dropped
}
