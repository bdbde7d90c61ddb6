package crdt

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// MaxWindowBuckets is the largest bucket count a WindowCounter accepts.
const MaxWindowBuckets = 1024

// Bucket is the count of one replica in one time bucket; Index is the
// bucket's start in Unix nanoseconds divided by the bucket width.
type Bucket struct {
	_     struct{} `cbor:",toarray"`
	Index int64
	N     uint64
}

// WindowSlot is one replica's buckets, sorted by Index, at most B+1 of
// them, none empty.
type WindowSlot struct {
	_       struct{} `cbor:",toarray"`
	Replica Replica
	Buckets []Bucket
}

// Contribution is what one replica has counted in the window, as seen
// locally.
type Contribution struct {
	Replica Replica
	// Count is the replica's sliding-window estimate (see ValueAt).
	Count float64
	// Newest is the start of the replica's newest non-empty bucket: how
	// recent the local picture of that replica is.
	Newest time.Time
}

// WindowCounter counts events in a sliding time window, per replica, for
// cluster-wide rate limits. The window W is split into B buckets of width
// W/B; an event at time t lands in bucket t.UnixNano() / width of the
// replica that counted it. Each replica writes only its own buckets; merge
// takes the per-(replica, bucket) maximum, so replicas converge like a
// GCounter per bucket.
//
// A replica keeps at most B+1 buckets, the current one and the B before
// it; older ones fall out on the next AddAt, Merge or Expire, so no
// pruning protocol is needed. ValueAt estimates the count in the window
// (now−W, now] as the full buckets inside it plus the oldest bucket,
// which is only partly inside, weighted by the part still inside:
//
//	estimate = Σ N[cur−B+1 … cur] + N[cur−B] · (1 − elapsed/width)
//
// where cur is the bucket of now and elapsed is how far now is into it.
// Buckets up to one window ahead of now (a peer whose clock runs ahead)
// count in full; buckets further ahead are ignored and dropped.
//
// The zero value is unusable; use NewWindowCounter. A WindowCounter is not
// safe for concurrent use; the caller serialises access.
type WindowCounter struct {
	// WindowLen and BucketCount are the configuration, carried on the wire
	// so a mismatch between replicas is detected, not silently mis-merged.
	// Slots holds the replicas' buckets sorted by Replica. They are
	// exported for the codec only; use the methods.
	WindowLen   time.Duration `cbor:"1,keyasint"`
	BucketCount int           `cbor:"2,keyasint"`
	Slots       []WindowSlot  `cbor:"3,keyasint,omitempty"`

	self        Replica
	wantWindow  time.Duration // configuration a decoded state must have
	wantBuckets int
	width       int64    // bucket width in nanoseconds
	own         int      // index+1 of self's slot in Slots, 0 when none
	ownBuf      []Bucket // backing array of the own slot, reused so AddAt does not allocate
	dirty       bool     // own buckets changed since the last Delta ...
	dirtyFrom   int64    // ... from this bucket index on
}

var _ Value[*WindowCounter] = (*WindowCounter)(nil)

// NewWindowCounter returns an empty counter owned by self over a window of
// the given length split into buckets equal parts. It returns an error
// wrapping ErrInvalidConfig if window is not positive, buckets is not in
// 1..MaxWindowBuckets, or window is not a whole number of nanoseconds
// times buckets.
func NewWindowCounter(self Replica, window time.Duration, buckets int) (*WindowCounter, error) {
	if err := checkWindowConfig(window, buckets); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return &WindowCounter{
		WindowLen:   window,
		BucketCount: buckets,
		self:        self,
		wantWindow:  window,
		wantBuckets: buckets,
		width:       int64(window) / int64(buckets),
	}, nil
}

func checkWindowConfig(window time.Duration, buckets int) error {
	switch {
	case window <= 0:
		return fmt.Errorf("window %v is not positive", window)
	case buckets < 1 || buckets > MaxWindowBuckets:
		return fmt.Errorf("bucket count %d is not in 1..%d", buckets, MaxWindowBuckets)
	case int64(window)%int64(buckets) != 0:
		return fmt.Errorf("window %v does not divide into %d buckets of whole nanoseconds", window, buckets)
	}
	return nil
}

// Window returns the window length W.
func (w *WindowCounter) Window() time.Duration { return w.WindowLen }

// Buckets returns the bucket count B.
func (w *WindowCounter) Buckets() int { return w.BucketCount }

// bucketWidth returns the width in nanoseconds, 0 for a broken
// configuration.
func (w *WindowCounter) bucketWidth() int64 {
	if w.width > 0 {
		return w.width
	}
	if checkWindowConfig(w.WindowLen, w.BucketCount) != nil {
		return 0
	}
	return int64(w.WindowLen) / int64(w.BucketCount)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// AddAt counts n events at time now in the replica's own slot. Counts
// saturate at math.MaxUint64. An event older than the replica's B+1
// retained buckets is dropped: it could not count in any window any more.
// AddAt costs tens of nanoseconds and allocates nothing in steady state.
func (w *WindowCounter) AddAt(now time.Time, n uint64) {
	if n == 0 || w.width <= 0 {
		return
	}
	idx := floorDiv(now.UnixNano(), w.width)
	if i := w.own - 1; uint(i) < uint(len(w.Slots)) {
		b := w.Slots[i].Buckets
		if l := len(b); l > 0 && b[l-1].Index == idx {
			b[l-1].N = satAdd(b[l-1].N, n)
			w.markDirty(idx)
			return
		}
	}
	w.addSlow(idx, n)
}

func (w *WindowCounter) markDirty(idx int64) {
	if !w.dirty || idx < w.dirtyFrom {
		w.dirtyFrom = idx
	}
	w.dirty = true
}

func (w *WindowCounter) addSlow(idx int64, n uint64) {
	if w.self.IsZero() {
		return
	}
	i := w.own - 1
	if uint(i) >= uint(len(w.Slots)) {
		var found bool
		i, found = w.search(w.self)
		if !found {
			w.Slots = slices.Insert(w.Slots, i, WindowSlot{Replica: w.self})
		}
		w.own = i + 1
	}
	s := &w.Slots[i]
	b := s.Buckets
	B := int64(w.BucketCount)
	if l := len(b); l > 0 && idx <= b[l-1].Index {
		// Now went backwards: an older bucket of the ring, or too old.
		if idx < b[l-1].Index-B {
			return
		}
		j, found := slices.BinarySearchFunc(b, idx, func(x Bucket, idx int64) int { return cmpInt64(x.Index, idx) })
		if found {
			b[j].N = satAdd(b[j].N, n)
		} else {
			s.Buckets = slices.Insert(b, j, Bucket{Index: idx, N: n})
		}
		w.markDirty(idx)
		return
	}
	// A new newest bucket: drop what falls out of the ring, then append,
	// moving the ring to the front of ownBuf when it reaches the end.
	k := 0
	for k < len(b) && b[k].Index < idx-B {
		k++
	}
	b = b[k:]
	if len(b) == cap(b) {
		if need := 2 * (w.BucketCount + 1); cap(w.ownBuf) < need {
			w.ownBuf = make([]Bucket, need)
		}
		b = w.ownBuf[:copy(w.ownBuf[:cap(w.ownBuf)], b)]
	}
	s.Buckets = append(b, Bucket{Index: idx, N: n})
	w.markDirty(idx)
}

func (w *WindowCounter) search(r Replica) (int, bool) {
	return slices.BinarySearchFunc(w.Slots, r, func(s WindowSlot, r Replica) int { return s.Replica.Compare(r) })
}

// at returns the bucket of now and how far now is into it, in [0, 1).
func (w *WindowCounter) at(now time.Time) (cur int64, frac float64, ok bool) {
	width := w.bucketWidth()
	if width == 0 {
		return 0, 0, false
	}
	ns := now.UnixNano()
	cur = floorDiv(ns, width)
	return cur, float64(ns-cur*width) / float64(width), true
}

// slotValue is the sliding-window estimate of one slot over the last k
// buckets (k = B for the whole window).
func slotValue(b []Bucket, cur int64, frac float64, k, B int64) float64 {
	var full uint64
	var sum float64
	for j := len(b) - 1; j >= 0; j-- {
		x := b[j]
		switch {
		case x.Index > cur+B:
			// too far ahead: ignored
		case x.Index > cur-k:
			full = satAdd(full, x.N)
		case x.Index == cur-k:
			sum += float64(x.N) * (1 - frac)
		default:
			return sum + float64(full)
		}
	}
	return sum + float64(full)
}

// ValueAt returns the cluster-wide sliding-window estimate at time now:
// the sum over replicas of the formula in the type's documentation.
func (w *WindowCounter) ValueAt(now time.Time) float64 {
	cur, frac, ok := w.at(now)
	if !ok {
		return 0
	}
	B := int64(w.BucketCount)
	var sum float64
	for i := range w.Slots {
		sum += slotValue(w.Slots[i].Buckets, cur, frac, B, B)
	}
	return sum
}

// ReplicaValueAt returns replica r's share of ValueAt(now).
func (w *WindowCounter) ReplicaValueAt(r Replica, now time.Time) float64 {
	cur, frac, ok := w.at(now)
	i, found := w.search(r)
	if !ok || !found {
		return 0
	}
	B := int64(w.BucketCount)
	return slotValue(w.Slots[i].Buckets, cur, frac, B, B)
}

// OwnValueAt returns the local replica's share of ValueAt(now).
func (w *WindowCounter) OwnValueAt(now time.Time) float64 {
	return w.ReplicaValueAt(w.self, now)
}

// ReplicaRate returns replica r's rate in events per second over the last
// span before now, estimated like ValueAt over the last ⌈span/width⌉
// buckets (at least 1, at most B). A rate limiter uses it to extrapolate
// what a peer has probably done since it last heard from it.
func (w *WindowCounter) ReplicaRate(r Replica, now time.Time, span time.Duration) float64 {
	cur, frac, ok := w.at(now)
	i, found := w.search(r)
	if !ok || !found {
		return 0
	}
	width := w.bucketWidth()
	B := int64(w.BucketCount)
	k := int64(span) / width
	if int64(span)%width != 0 {
		k++
	}
	k = min(max(k, 1), B)
	count := slotValue(w.Slots[i].Buckets, cur, frac, k, B)
	return count / (float64(k*width) / float64(time.Second))
}

// CountInRange returns the raw count of replica r in the buckets from the
// one holding from to the one holding to, both included.
func (w *WindowCounter) CountInRange(r Replica, from, to time.Time) uint64 {
	width := w.bucketWidth()
	i, found := w.search(r)
	if width == 0 || !found {
		return 0
	}
	lo, hi := floorDiv(from.UnixNano(), width), floorDiv(to.UnixNano(), width)
	var sum uint64
	for _, x := range w.Slots[i].Buckets {
		if x.Index >= lo && x.Index <= hi {
			sum = satAdd(sum, x.N)
		}
	}
	return sum
}

// Contributions returns, sorted by replica, every replica with a non-zero
// estimate at now. The caller owns the slice.
func (w *WindowCounter) Contributions(now time.Time) []Contribution {
	cur, frac, ok := w.at(now)
	if !ok {
		return nil
	}
	width := w.bucketWidth()
	B := int64(w.BucketCount)
	var out []Contribution
	for i := range w.Slots {
		s := &w.Slots[i]
		c := slotValue(s.Buckets, cur, frac, B, B)
		if c == 0 {
			continue
		}
		var newest int64 = math.MinInt64
		for _, x := range s.Buckets {
			if x.Index <= cur+B {
				newest = x.Index
			}
		}
		out = append(out, Contribution{Replica: s.Replica, Count: c, Newest: time.Unix(0, newest*width)})
	}
	return out
}
