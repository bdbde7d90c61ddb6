package crdt

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
)

// Slot is one replica's share of a GCounter: the number of increments that
// replica has made.
type Slot struct {
	_       struct{} `cbor:",toarray"`
	Replica Replica
	N       uint64
}

// GCounter is a grow-only counter: one slot per replica, each replica
// increments only its own slot, merge takes the per-slot maximum and the
// value is the sum of all slots.
//
// The zero value is an empty wire state with no replica of its own; Add on
// it does nothing. Use NewGCounter for a counter that accepts increments.
// A GCounter is not safe for concurrent use; the caller serialises access.
type GCounter struct {
	// S holds the slots sorted by Replica, no duplicates, no zero counts.
	// It is exported for the codec only; use the methods.
	S []Slot `cbor:"1,keyasint,omitempty"`
	// Gone holds the retirement records sorted by Replica (see
	// retire.go). It is exported for the codec only.
	Gone []Retirement `cbor:"3,keyasint,omitempty"`

	// loc is what only a local state has; nil in a wire state, which then
	// takes 56 bytes rather than 112 (a burst decodes one per value).
	loc *local
}

// local is the part of a GCounter that only a local state has.
type local struct {
	self      Replica
	own       int       // index+1 of self's slot in S, 0 when there is none
	dirty     bool      // own slot changed since the last Delta
	goneDirty []Replica // records changed by Retire since the last Delta
}

// owner returns the replica that owns c, zero for a wire state.
func (c *GCounter) owner() Replica {
	if c.loc == nil {
		return Replica{}
	}
	return c.loc.self
}

// goneDirty returns the records changed by Retire since the last Delta.
func (c *GCounter) goneDirty() []Replica {
	if c.loc == nil {
		return nil
	}
	return c.loc.goneDirty
}

var _ Value[*GCounter] = (*GCounter)(nil)

// NewGCounter returns an empty counter owned by self. self must not be the
// zero Replica: a counter made with it ignores Add.
func NewGCounter(self Replica) *GCounter {
	return &GCounter{loc: &local{self: self}}
}

// Add adds n to the replica's own slot. A slot saturates at
// math.MaxUint64 instead of wrapping: wrapping would make the counter go
// backwards, which a max-merge could never repair. Add costs a few
// nanoseconds and allocates nothing once the slot exists.
func (c *GCounter) Add(n uint64) {
	if n == 0 {
		return
	}
	l := c.loc
	if l == nil {
		return
	}
	if i := l.own - 1; uint(i) < uint(len(c.S)) {
		c.S[i].N = satAdd(c.S[i].N, n)
		l.dirty = true
		return
	}
	c.addSlow(n)
}

func (c *GCounter) addSlow(n uint64) {
	l := c.loc
	if l.self.IsZero() {
		return
	}
	i, found := c.search(l.self)
	if found {
		c.S[i].N = satAdd(c.S[i].N, n)
	} else {
		// A replica retired while alive continues from its record.
		c.S = slices.Insert(c.S, i, Slot{Replica: l.self, N: satAdd(c.retiredCount(l.self), n)})
	}
	l.own = i + 1
	l.dirty = true
}

// Value returns the sum of all slots, saturating at math.MaxUint64.
func (c *GCounter) Value() uint64 {
	if len(c.Gone) > 0 {
		return c.valueRetired()
	}
	var sum uint64
	for i := range c.S {
		sum = satAdd(sum, c.S[i].N)
	}
	return sum
}

// Get returns the count of replica r, 0 if r has no slot; for a retired
// replica, the count its record stands for if that is larger.
func (c *GCounter) Get(r Replica) uint64 {
	if i, ok := c.search(r); ok {
		return max(c.S[i].N, c.retiredCount(r))
	}
	return c.retiredCount(r)
}

// Slots returns a copy of the slots, sorted by Replica. The caller owns it.
func (c *GCounter) Slots() []Slot {
	return slices.Clone(c.S)
}

// Merge folds other into c: per replica, the larger count wins. The effect
// holds the slots of other that were larger than c's. now is unused: a
// GCounter has no notion of time. Merge costs O(len(c.S)+len(other.S)),
// and O(log len(c.S)) for a delta of one slot c already holds.
func (c *GCounter) Merge(now time.Time, other *GCounter) (effect *GCounter, changed bool) {
	if other == nil || c == other {
		return nil, false
	}
	if len(c.Gone) > 0 || len(other.Gone) > 0 {
		return c.mergeRetired(now, other)
	}
	var buf [1]Slot
	eff := c.mergeSlots(other, buf[:0])
	if len(eff) == 0 {
		return nil, false
	}
	if len(eff) == len(other.S) {
		return other, true // all of other was new: it is the effect
	}
	return newGWire(eff), true
}

// gWire is a GCounter wire state with room for one slot in the same
// allocation: the delta or the effect of one replica's change costs one
// allocation, not two.
type gWire struct {
	c GCounter
	s [1]Slot
}

// newGWire returns a GCounter holding a copy of s, in one allocation when s
// is one slot.
func newGWire(s []Slot) *GCounter {
	if len(s) != 1 {
		return &GCounter{S: slices.Clone(s)}
	}
	w := &gWire{s: [1]Slot{s[0]}}
	w.c.S = w.s[:]
	return &w.c
}

// mergeSlots is Merge for counters without retirement records: it raises
// c's slots to other's and appends the slots that rose to eff, which it
// returns.
func (c *GCounter) mergeSlots(other *GCounter, eff []Slot) []Slot {
	// One pass over both sorted slices raises c's slots in place and
	// collects the effect; slots c lacks are inserted afterwards.
	var ins []Slot
	for i, j := 0, 0; j < len(other.S); j++ {
		o := other.S[j]
		if o.N == 0 {
			continue
		}
		i = seek(c.S, i, o.Replica, len(other.S), slotReplica)
		order := 1 // of c.S[i] against o; 1 when c.S is exhausted
		if i < len(c.S) {
			order = c.S[i].Replica.Compare(o.Replica)
		}
		if order == 0 {
			if o.N <= c.S[i].N {
				continue
			}
			c.S[i].N = o.N
		} else {
			ins = append(ins, o)
		}
		if len(eff) == cap(eff) {
			eff = slices.Grow(eff, len(other.S)-j) // once: room for the rest
		}
		eff = append(eff, o)
	}
	if len(ins) > 0 {
		c.S = insertSorted(c.S, ins, func(a, b Slot) int { return a.Replica.Compare(b.Replica) })
		c.reindexOwn() // inserts moved the own slot
	}
	return eff
}

// Delta returns the replica's own slot if Add was called since the last
// Delta.
func (c *GCounter) Delta() (delta *GCounter, ok bool) {
	if len(c.goneDirty()) > 0 {
		return c.deltaRetired()
	}
	s, ok := c.takeOwn()
	if !ok {
		return nil, false
	}
	return newGWire([]Slot{s}), true
}

// takeOwn returns the replica's own slot if Add was called since the last
// Delta, and clears the mark.
func (c *GCounter) takeOwn() (Slot, bool) {
	l := c.loc
	if l == nil || !l.dirty {
		return Slot{}, false
	}
	l.dirty = false
	i := l.own - 1
	if uint(i) >= uint(len(c.S)) {
		return Slot{}, false
	}
	return c.S[i], true
}

// Clone returns a deep copy of c as a wire state.
func (c *GCounter) Clone() *GCounter {
	return &GCounter{S: slices.Clone(c.S), Gone: slices.Clone(c.Gone)}
}

// Empty returns an empty wire state.
func (c *GCounter) Empty() *GCounter { return &GCounter{} }

// Validate checks a decoded state: slots sorted by Replica with no
// duplicates, no zero Replica and no zero count. Errors wrap
// ErrInvalidState.
func (c *GCounter) Validate() error {
	if err := validateSlots(c.S); err != nil {
		return fmt.Errorf("gcounter: %w", err)
	}
	if err := validateRetired(c.Gone); err != nil {
		return fmt.Errorf("gcounter: %w", err)
	}
	c.reindexOwn()
	return nil
}

func validateSlots(s []Slot) error {
	for i := range s {
		if s[i].Replica.IsZero() {
			return fmt.Errorf("%w: slot %d has the zero replica", ErrInvalidState, i)
		}
		if s[i].N == 0 {
			return fmt.Errorf("%w: slot %d (%s) has a zero count", ErrInvalidState, i, s[i].Replica)
		}
		if i > 0 && s[i-1].Replica.Compare(s[i].Replica) >= 0 {
			return fmt.Errorf("%w: slot %d (%s) is not after %s", ErrInvalidState, i, s[i].Replica, s[i-1].Replica)
		}
	}
	return nil
}

func (c *GCounter) search(r Replica) (int, bool) {
	return slices.BinarySearchFunc(c.S, r, func(s Slot, r Replica) int { return s.Replica.Compare(r) })
}

func satAdd(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

// Check reports whether other may be merged into c within b (see
// Bounded): every slot at most b.MaxCount; for a non-zero origin, only
// origin's slot, raised by at most b.MaxStep over the count c holds (a
// slot c lacks is bounded by the ceiling alone: a late joiner has not seen
// it rise); at most b.MaxReplicas slots after the merge.
func (c *GCounter) Check(other *GCounter, origin Replica, b Bounds) error {
	if other == nil {
		return nil
	}
	if err := checkSlots(c.S, other.S, origin, b); err != nil {
		return err
	}
	return c.checkRetired(other.Gone, origin, b)
}

func checkSlots(mine, theirs []Slot, origin Replica, b Bounds) error {
	bound := !origin.IsZero()
	added := 0
	i := 0
	for _, o := range theirs {
		if bound && o.Replica != origin {
			return outOfBounds(ErrForeignWrite, "slot %s in a message from %s", o.Replica, origin)
		}
		i = seek(mine, i, o.Replica, len(theirs), slotReplica)
		held := i < len(mine) && mine[i].Replica == o.Replica
		var n uint64
		if held {
			n = mine[i].N
		} else if o.N != 0 {
			added++
		}
		if err := checkCount(o.Replica, o.N, n, held, bound, b); err != nil {
			return err
		}
	}
	return checkReplicas(len(mine), added, b)
}

// Sanitize drops the slots above b.MaxCount (see Bounded).
func (c *GCounter) Sanitize(b Bounds) int {
	if b.MaxCount == 0 {
		return 0
	}
	gone := c.sanitizeRetired(b)
	kept := c.S[:0]
	for _, s := range c.S {
		if s.N <= b.MaxCount {
			kept = append(kept, s)
		}
	}
	dropped := len(c.S) - len(kept)
	if dropped == 0 {
		return gone
	}
	clear(c.S[len(kept):])
	c.S = kept
	if len(c.S) == 0 {
		c.S = nil
	}
	c.reindexOwn()
	return dropped + gone
}

func slotReplica(s Slot) Replica { return s.Replica }
