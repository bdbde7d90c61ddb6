package crdt

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// ORSetEntry is one element of an ORSet tagged with the dot of the Add that
// put it there. An element added concurrently by several replicas has one
// entry per dot.
type ORSetEntry[T cmp.Ordered] struct {
	_    struct{} `cbor:",toarray"`
	Elem T
	Dot  Dot
}

func compareEntry[T cmp.Ordered](a, b ORSetEntry[T]) int {
	if c := cmp.Compare(a.Elem, b.Elem); c != 0 {
		return c
	}
	return a.Dot.Compare(b.Dot)
}

// ORSet is an observed-remove set with add-wins semantics: Remove removes
// the additions of an element this replica has seen, so an Add concurrent
// with a Remove survives it. It is the optimised OR-Set of Bieniusa et al.
// in delta-state form (Almeida et al.): each Add is tagged with a fresh dot
// (replica, counter), and a causal context — the set of dots seen, kept as
// a version vector plus the few dots beyond it — tells a merge whether an
// entry missing on one side was removed there or never seen. No tombstone
// per element is kept: a removed element costs nothing once its dots are
// folded into the version vector.
//
// T is cmp.Ordered: entries are kept sorted by cmp.Compare (so equal sets
// encode to equal bytes) and Elements is sorted.
//
// The zero value is an empty wire state; Add and Remove on it do nothing.
// ORSet is not safe for concurrent use; the caller serialises access.
type ORSet[T cmp.Ordered] struct {
	// E holds the entries sorted by (Elem, Dot); VV and Cloud the causal
	// context (see Validate). They are exported for the codec only.
	E     []ORSetEntry[T] `cbor:"1,keyasint,omitempty"`
	VV    []Dot           `cbor:"2,keyasint,omitempty"`
	Cloud []Dot           `cbor:"3,keyasint,omitempty"`
	// Gone holds retirement marks sorted by replica (orset_retire.go).
	Gone []ContextRetirement `cbor:"4,keyasint,omitempty"`

	self    Replica
	counter uint64 // the last dot this replica issued or saw of its own
	issued  uint64 // the last dot this replica issued (Sanitize falls back to it)

	// The local changes since the last Delta. Their delta is built only
	// when asked for, so that an Add or Remove costs O(1) amortised
	// however many came before it: added holds the Adds' entries, in the
	// order of their dots, each marked once a later change covered it;
	// covered the other dots the changes covered (their deltas' contexts
	// are added's dots and these), unsorted and with repeats; and pending
	// the join of older changes, folded out of added and covered when they
	// outgrow the state, so they stay O(state) even if Delta is never
	// called.
	added   []orsetAdd[T]
	covered []Dot
	pending *ORSet[T]
}

// orsetAdd is an entry a local Add made; gone records that a later local
// change covered its dot, so that the delta has the dot but not the entry.
type orsetAdd[T cmp.Ordered] struct {
	entry ORSetEntry[T]
	gone  bool
}

// foldSlack is how many recorded changes beyond twice the state's size are
// kept before they are folded into the pending delta.
const foldSlack = 64

// keepCap is the largest capacity of added and covered kept for reuse
// after a Delta.
const keepCap = 1024

var _ Value[*ORSet[string]] = (*ORSet[string])(nil)

// NewORSet returns an empty set owned by self.
func NewORSet[T cmp.Ordered](self Replica) *ORSet[T] {
	return &ORSet[T]{self: self}
}

// elemRange returns the index range of v's entries.
func (s *ORSet[T]) elemRange(v T) (int, int) {
	lo, _ := slices.BinarySearchFunc(s.E, v, func(e ORSetEntry[T], v T) int { return cmp.Compare(e.Elem, v) })
	hi := lo
	for hi < len(s.E) && cmp.Compare(s.E[hi].Elem, v) == 0 {
		hi++
	}
	return lo, hi
}

// Add adds v. It tags v with a fresh dot and drops v's older entries, so a
// concurrent Remove elsewhere, which cannot have seen the new dot, does
// not remove v. It costs a binary search and, when v is new, an insertion
// into the sorted entries; the delta is built by Delta.
func (s *ORSet[T]) Add(v T) {
	if s.self.IsZero() {
		return
	}
	s.counter = max(s.counter, ctxMax(s.VV, s.Cloud, s.self))
	if s.counter == ^uint64(0) {
		return // no fresh dot left; cannot happen short of a forged state
	}
	s.counter++
	s.issued = s.counter
	d := Dot{Replica: s.self, Counter: s.counter}
	lo, hi := s.elemRange(v)
	s.cover(lo, hi)
	s.added = append(s.added, orsetAdd[T]{entry: ORSetEntry[T]{Elem: v, Dot: d}})
	// Merging this Add's delta into s replaces v's entries by the new one
	// and adds d to the context (v's old dots are in it already); do that
	// in place when d extends s's own version vector entry, as it does
	// unless s holds a forged state.
	if s.extendOwn(d) {
		s.E = slices.Replace(s.E, lo, hi, ORSetEntry[T]{Elem: v, Dot: d})
	} else {
		dots := make([]Dot, 0, hi-lo+1)
		for _, e := range s.E[lo:hi] {
			dots = append(dots, e.Dot)
		}
		dots = append(dots, d)
		slices.SortFunc(dots, Dot.Compare)
		delta := &ORSet[T]{E: []ORSetEntry[T]{{Elem: v, Dot: d}}}
		delta.VV, delta.Cloud = compactContext(nil, slices.Compact(dots))
		s.Merge(time.Time{}, delta)
	}
	s.maybeFold()
}

// cover records that a local change covered the dots of s.E[lo:hi]: an
// entry added since the last fold is marked gone, any other dot goes to
// covered.
func (s *ORSet[T]) cover(lo, hi int) {
	for _, e := range s.E[lo:hi] {
		if e.Dot.Replica == s.self && len(s.added) > 0 && e.Dot.Counter >= s.added[0].entry.Dot.Counter {
			i, found := slices.BinarySearchFunc(s.added, e.Dot.Counter, func(a orsetAdd[T], c uint64) int {
				return cmp.Compare(a.entry.Dot.Counter, c)
			})
			if found {
				s.added[i].gone = true
				continue
			}
		}
		s.covered = append(s.covered, e.Dot)
	}
}

// extendOwn adds the dot d of s's own replica to the version vector if it
// is the next one, and reports whether it did.
func (s *ORSet[T]) extendOwn(d Dot) bool {
	i, found := slices.BinarySearchFunc(s.VV, d.Replica, func(x Dot, r Replica) int { return x.Replica.Compare(r) })
	switch {
	case found && s.VV[i].Counter == d.Counter-1:
		s.VV[i].Counter = d.Counter
	case !found && d.Counter == 1:
		s.VV = slices.Insert(s.VV, i, d)
	default:
		return false
	}
	return true
}

// Remove removes v as far as this replica has seen it added; it does
// nothing if v is absent. Like Add, it leaves building the delta to Delta.
func (s *ORSet[T]) Remove(v T) {
	lo, hi := s.elemRange(v)
	if lo == hi || s.self.IsZero() {
		return
	}
	s.cover(lo, hi)
	// v's dots are in the context already: dropping the entries is the
	// whole merge of the delta.
	s.E = slices.Delete(s.E, lo, hi)
	if len(s.E) == 0 {
		s.E = nil
	}
	s.maybeFold()
}

// maybeFold folds the recorded changes into the pending delta once they
// outgrow the state, which bounds their memory and, amortised over the
// changes recorded since the last fold, costs O(log n) per change.
func (s *ORSet[T]) maybeFold() {
	if len(s.added)+len(s.covered) <= 2*(len(s.E)+len(s.VV)+len(s.Cloud))+foldSlack {
		return
	}
	d := s.takeRecorded()
	if s.pending == nil {
		s.pending = d
	} else {
		s.pending.Merge(time.Time{}, d)
	}
}

// takeRecorded returns the join of the local deltas recorded in added and
// covered, and clears both. The join of one-change deltas has as context
// the union of theirs, and keeps an Add's entry unless a later change
// covered its dot.
func (s *ORSet[T]) takeRecorded() *ORSet[T] {
	out := &ORSet[T]{}
	n := 0
	for _, a := range s.added {
		if !a.gone {
			n++
		}
	}
	if n > 0 {
		out.E = make([]ORSetEntry[T], 0, n)
		for _, a := range s.added {
			if !a.gone {
				out.E = append(out.E, a.entry)
			}
		}
		slices.SortFunc(out.E, compareEntry)
	}
	// The context: covered, sorted, merged with added's dots, which are
	// s.self's in ascending order.
	slices.SortFunc(s.covered, Dot.Compare)
	dots := make([]Dot, 0, len(s.covered)+len(s.added))
	i, j := 0, 0
	for i < len(s.covered) || j < len(s.added) {
		var d Dot
		switch {
		case j == len(s.added) || i < len(s.covered) && s.covered[i].Compare(s.added[j].entry.Dot) < 0:
			d = s.covered[i]
			i++
		default:
			d = s.added[j].entry.Dot
			j++
		}
		if len(dots) == 0 || dots[len(dots)-1] != d {
			dots = append(dots, d)
		}
	}
	// compactContext keeps the cloud in dots, which out then owns.
	out.VV, out.Cloud = compactContext(nil, dots)
	s.added = reuse(s.added)
	s.covered = reuse(s.covered)
	return out
}

// reuse empties a record slice, keeping its array unless it is large.
func reuse[E any](x []E) []E {
	if cap(x) > keepCap {
		return nil
	}
	clear(x[:cap(x)]) // let go of the elements' strings
	return x[:0]
}

// Contains reports whether v is in the set.
func (s *ORSet[T]) Contains(v T) bool {
	lo, hi := s.elemRange(v)
	return lo < hi
}

// Elements returns the elements in ascending order (cmp.Compare). The
// caller owns the slice.
func (s *ORSet[T]) Elements() []T {
	var out []T
	for i := range s.E {
		if i == 0 || cmp.Compare(s.E[i-1].Elem, s.E[i].Elem) != 0 {
			out = append(out, s.E[i].Elem)
		}
	}
	return out
}

// Len returns the number of elements.
func (s *ORSet[T]) Len() int {
	n := 0
	for i := range s.E {
		if i == 0 || cmp.Compare(s.E[i-1].Elem, s.E[i].Elem) != 0 {
			n++
		}
	}
	return n
}

// Merge joins other into s: an entry stays if both sides have it or if
// the side lacking it never saw its dot; the contexts are united. The
// effect is other restricted to the replicas whose dots changed s. now is
// unused. Merge costs O(len(s.E)+len(other.E)) plus the contexts.
func (s *ORSet[T]) Merge(now time.Time, other *ORSet[T]) (effect *ORSet[T], changed bool) {
	if other == nil || s == other {
		return nil, false
	}
	if len(other.Gone) > 0 {
		return s.mergeRetired(now, other)
	}
	touched := s.touched(other)
	if len(touched) == 0 {
		return nil, false
	}
	effect = other.restrict(touched)

	// Entries, against the contexts as they were before this merge. The
	// effect decides the same as other would (it holds everything of other
	// for the replicas that matter) and is smaller.
	o := effect
	out := make([]ORSetEntry[T], 0, len(s.E)+len(o.E))
	for i, j := 0, 0; i < len(s.E) || j < len(o.E); {
		c := 0
		switch {
		case j == len(o.E):
			c = -1
		case i == len(s.E):
			c = 1
		default:
			c = compareEntry(s.E[i], o.E[j])
		}
		switch {
		case c < 0:
			if !ctxContains(o.VV, o.Cloud, s.E[i].Dot) {
				out = append(out, s.E[i])
			}
			i++
		case c > 0:
			if !ctxContains(s.VV, s.Cloud, o.E[j].Dot) {
				out = append(out, o.E[j])
			}
			j++
		default:
			out = append(out, s.E[i])
			i++
			j++
		}
	}
	if len(out) == 0 {
		out = nil
	}
	s.E = out
	s.VV, s.Cloud = ctxUnion(s.VV, s.Cloud, o.VV, o.Cloud)
	if !s.self.IsZero() {
		s.counter = max(s.counter, ctxMax(s.VV, s.Cloud, s.self))
	}
	return effect, true
}

// touched returns, sorted, the replicas whose dots in o would change s:
// dots of o's context that s has not seen, and dots of s's entries that o
// has seen removed.
func (s *ORSet[T]) touched(o *ORSet[T]) []Replica {
	var rs []Replica
	for _, d := range o.VV {
		if d.Counter > vvGet(s.VV, d.Replica) {
			rs = append(rs, d.Replica)
		}
	}
	for _, d := range o.Cloud {
		if !ctxContains(s.VV, s.Cloud, d) {
			rs = append(rs, d.Replica)
		}
	}
	j := 0
	for _, e := range s.E {
		for j < len(o.E) && compareEntry(o.E[j], e) < 0 {
			j++
		}
		if j < len(o.E) && compareEntry(o.E[j], e) == 0 {
			continue
		}
		if ctxContains(o.VV, o.Cloud, e.Dot) {
			rs = append(rs, e.Dot.Replica)
		}
	}
	slices.SortFunc(rs, Replica.Compare)
	return slices.Compact(rs)
}

// restrict returns a copy of s holding only what concerns the replicas rs
// (sorted).
func (s *ORSet[T]) restrict(rs []Replica) *ORSet[T] {
	in := func(r Replica) bool {
		_, ok := slices.BinarySearchFunc(rs, r, Replica.Compare)
		return ok
	}
	out := &ORSet[T]{}
	for _, e := range s.E {
		if in(e.Dot.Replica) {
			out.E = append(out.E, e)
		}
	}
	for _, d := range s.VV {
		if in(d.Replica) {
			out.VV = append(out.VV, d)
		}
	}
	for _, d := range s.Cloud {
		if in(d.Replica) {
			out.Cloud = append(out.Cloud, d)
		}
	}
	return out
}

// Delta returns the join of the local Adds and Removes since the last
// Delta: their entries and the dots they covered. It is built here, in
// O(k log k) for the k changes recorded since the last Delta (or fold).
func (s *ORSet[T]) Delta() (delta *ORSet[T], ok bool) {
	d := s.pending
	s.pending = nil
	if len(s.added) > 0 || len(s.covered) > 0 {
		if r := s.takeRecorded(); d == nil {
			d = r
		} else {
			d.Merge(time.Time{}, r)
		}
	}
	return d, d != nil
}

// Clone returns a deep copy of s as a wire state.
func (s *ORSet[T]) Clone() *ORSet[T] {
	return &ORSet[T]{E: slices.Clone(s.E), VV: slices.Clone(s.VV), Cloud: slices.Clone(s.Cloud), Gone: slices.Clone(s.Gone)}
}

// Empty returns an empty wire state.
func (s *ORSet[T]) Empty() *ORSet[T] { return &ORSet[T]{} }

// Validate checks a decoded state: VV sorted by replica with positive
// counters; Cloud sorted, each dot more than one past its replica's VV
// counter; entries sorted by (Elem, Dot), each dot used once and inside the
// context. Errors wrap ErrInvalidState.
func (s *ORSet[T]) Validate() error {
	if err := validateContext(s.VV, s.Cloud); err != nil {
		return fmt.Errorf("orset: %w", err)
	}
	if err := validateContextRetired(s.Gone); err != nil {
		return fmt.Errorf("orset: %w", err)
	}
	dots := make([]Dot, 0, len(s.E))
	for i, e := range s.E {
		if e.Dot.Replica.IsZero() || e.Dot.Counter == 0 {
			return fmt.Errorf("orset: %w: entry %d (%v) has an empty dot", ErrInvalidState, i, e.Elem)
		}
		if i > 0 && compareEntry(s.E[i-1], e) >= 0 {
			return fmt.Errorf("orset: %w: entry %d (%v) is not after %v", ErrInvalidState, i, e.Elem, s.E[i-1].Elem)
		}
		if !ctxContains(s.VV, s.Cloud, e.Dot) {
			return fmt.Errorf("orset: %w: entry %d (%v) has dot %s:%d outside the context", ErrInvalidState, i, e.Elem, e.Dot.Replica, e.Dot.Counter)
		}
		dots = append(dots, e.Dot)
	}
	slices.SortFunc(dots, Dot.Compare)
	for i := 1; i < len(dots); i++ {
		if dots[i] == dots[i-1] {
			return fmt.Errorf("orset: %w: dot %s:%d tags two entries", ErrInvalidState, dots[i].Replica, dots[i].Counter)
		}
	}
	if !s.self.IsZero() {
		s.counter = max(s.counter, ctxMax(s.VV, s.Cloud, s.self))
	}
	return nil
}

// Check reports whether other may be merged into s within b (see Bounded
// for the origin rule): every dot at most b.MaxCount; for a non-zero
// origin, every entry's dot is origin's and every context dot of a
// replica s knows is at most b.MaxStep past the highest dot s has seen of
// it; at most b.MaxReplicas replicas in the context after the merge.
func (s *ORSet[T]) Check(other *ORSet[T], origin Replica, b Bounds) error {
	if other == nil {
		return nil
	}
	bound := !origin.IsZero()
	for _, g := range other.Gone {
		if b.MaxTime != 0 && g.At > b.MaxTime {
			return outOfBounds(ErrFutureTime, "retirement mark of %s at %d, after %d", g.Replica, g.At, b.MaxTime)
		}
	}
	for _, e := range other.E {
		if bound && e.Dot.Replica != origin {
			return outOfBounds(ErrForeignWrite, "entry %v tagged %s:%d in a message from %s", e.Elem, e.Dot.Replica, e.Dot.Counter, origin)
		}
	}
	added := 0
	check := func(dots []Dot, cloud bool) error {
		for i, d := range dots {
			known := ctxMax(s.VV, s.Cloud, d.Replica)
			if err := checkCount(d.Replica, d.Counter, known, known > 0, bound, b); err != nil {
				return err
			}
			// A new replica counts once: in the cloud only at its first
			// dot, and only if other's VV does not hold it.
			if known == 0 && (!cloud || (i == 0 || dots[i-1].Replica != d.Replica) && vvGet(other.VV, d.Replica) == 0) {
				added++
			}
		}
		return nil
	}
	if err := check(other.VV, false); err != nil {
		return err
	}
	if err := check(other.Cloud, true); err != nil {
		return err
	}
	return checkReplicas(ctxReplicas(s.VV, s.Cloud), added, b)
}

// ctxReplicas returns the number of distinct replicas in a context.
func ctxReplicas(vv, cloud []Dot) int {
	n := len(vv)
	for i, d := range cloud {
		if (i == 0 || cloud[i-1].Replica != d.Replica) && vvGet(vv, d.Replica) == 0 {
			n++
		}
	}
	return n
}

// Sanitize forgets every dot above b.MaxCount (see Bounded): the entries
// tagged with one, the cloud dots, and a version vector entry above it,
// which is lowered to the replica's highest remaining entry. Lowering it
// forgets which of that replica's dots were removed: an entry a peer still
// holds and this replica had removed comes back (add wins). The own dot
// counter, if above the ceiling, restarts after the last dot this replica
// issued, so no dot is ever issued twice.
func (s *ORSet[T]) Sanitize(b Bounds) int {
	if b.MaxCount == 0 {
		return 0
	}
	bad := func(d Dot) bool { return d.Counter > b.MaxCount }
	dropped := 0
	kept := s.E[:0]
	for _, e := range s.E {
		if bad(e.Dot) {
			dropped++
		} else {
			kept = append(kept, e)
		}
	}
	clear(s.E[len(kept):])
	s.E = kept
	cloud := s.Cloud[:0]
	for _, d := range s.Cloud {
		if bad(d) {
			dropped++
		} else {
			cloud = append(cloud, d)
		}
	}
	s.Cloud = cloud
	var vv []Dot
	for _, d := range s.VV {
		if !bad(d) {
			vv = append(vv, d)
			continue
		}
		dropped++
		var top uint64
		for _, e := range s.E {
			if e.Dot.Replica == d.Replica {
				top = max(top, e.Dot.Counter)
			}
		}
		if top > 0 {
			vv = append(vv, Dot{Replica: d.Replica, Counter: top})
		}
	}
	if dropped == 0 {
		return 0
	}
	// Lowered entries may leave cloud dots at or next to them: recompact.
	s.VV, s.Cloud = compactContext(vv, slices.Clone(s.Cloud))
	if len(s.E) == 0 {
		s.E = nil
	}
	if s.counter > b.MaxCount {
		s.counter = max(s.issued, ctxMax(s.VV, s.Cloud, s.self))
	}
	return dropped
}
