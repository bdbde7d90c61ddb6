package crdt

import (
	"fmt"
	"math"
	"time"
)

// PNCounter is a counter that goes up and down: two GCounters, one for
// increments (P) and one for decrements (N); the value is P − N.
//
// The zero value is an empty wire state; Add on it does nothing. A
// PNCounter is not safe for concurrent use; the caller serialises access.
type PNCounter struct {
	P GCounter `cbor:"1,keyasint"`
	N GCounter `cbor:"2,keyasint"`
}

var _ Value[*PNCounter] = (*PNCounter)(nil)

// NewPNCounter returns a zero counter owned by self.
func NewPNCounter(self Replica) *PNCounter {
	l := &[2]local{{self: self}, {self: self}}
	return &PNCounter{P: GCounter{loc: &l[0]}, N: GCounter{loc: &l[1]}}
}

// Add adds n; a negative n decrements. Each side saturates at
// math.MaxUint64 (see GCounter.Add).
func (c *PNCounter) Add(n int64) {
	switch {
	case n > 0:
		c.P.Add(uint64(n))
	case n < 0:
		c.N.Add(uint64(^n) + 1) // |n|, also for math.MinInt64
	}
}

// Value returns P − N, clamped to the int64 range.
func (c *PNCounter) Value() int64 {
	p, n := c.P.Value(), c.N.Value()
	if p >= n {
		d := p - n
		if d > math.MaxInt64 {
			return math.MaxInt64
		}
		return int64(d)
	}
	d := n - p
	if d > 1<<63 {
		return math.MinInt64
	}
	return int64(-d) // two's complement: -(1<<63) is MinInt64
}

// Merge merges both halves; the effect holds the changed slots of each.
func (c *PNCounter) Merge(now time.Time, other *PNCounter) (effect *PNCounter, changed bool) {
	if other == nil || c == other {
		return nil, false
	}
	if len(c.P.Gone)+len(c.N.Gone)+len(other.P.Gone)+len(other.N.Gone) == 0 {
		// The usual case, without retirement records: no allocation when
		// all of other was new, else one for the effect (three, before:
		// a burst of 5,000 deltas merged at 9 nodes allocated 50 MB, most
		// of it here and in decoding).
		var pb, nb [1]Slot
		pe, ne := c.P.mergeSlots(&other.P, pb[:0]), c.N.mergeSlots(&other.N, nb[:0])
		if len(pe) == 0 && len(ne) == 0 {
			return nil, false
		}
		if len(pe) == len(other.P.S) && len(ne) == len(other.N.S) {
			return other, true // all of other was new: it is the effect
		}
		return PNCounterOf(pe, ne), true
	}
	pe, pok := c.P.Merge(now, &other.P)
	ne, nok := c.N.Merge(now, &other.N)
	if !pok && !nok {
		return nil, false
	}
	effect = &PNCounter{}
	if pok {
		effect.P = *pe
	}
	if nok {
		effect.N = *ne
	}
	return effect, true
}

// Delta returns the replica's own slots changed since the last Delta.
func (c *PNCounter) Delta() (delta *PNCounter, ok bool) {
	if len(c.P.goneDirty())+len(c.N.goneDirty()) == 0 {
		// The usual case: one allocation for the replica's own slots.
		var pb, nb [1]Slot
		ps, pok := c.P.takeOwn()
		ns, nok := c.N.takeOwn()
		if !pok && !nok {
			return nil, false
		}
		p, n := pb[:0], nb[:0]
		if pok {
			p = append(p, ps)
		}
		if nok {
			n = append(n, ns)
		}
		return PNCounterOf(p, n), true
	}
	pd, pok := c.P.Delta()
	nd, nok := c.N.Delta()
	if !pok && !nok {
		return nil, false
	}
	delta = &PNCounter{}
	if pok {
		delta.P = *pd
	}
	if nok {
		delta.N = *nd
	}
	return delta, true
}

// pnWire1 and pnWire2 are a PNCounter wire state with room for its one or
// two slots in the same allocation: the delta or the effect of one
// replica's change (a slot in P, one in N) costs one allocation, not
// three. A burst of 5,000 deltas made those allocations most of what a
// node's GC had to follow (BenchmarkBurst5000Values).
type pnWire1 struct {
	c PNCounter
	s [1]Slot
}

type pnWire2 struct {
	c PNCounter
	s [2]Slot
}

// PNCounterOf returns a wire state whose halves hold copies of p and n
// (an empty half is nil, as in a decoded state), in one allocation when
// they hold two slots or fewer. It neither sorts nor checks the slots:
// Validate does.
func PNCounterOf(p, n []Slot) *PNCounter {
	var c *PNCounter
	var s []Slot
	switch len(p) + len(n) {
	case 0:
		return &PNCounter{}
	case 1:
		w := new(pnWire1)
		c, s = &w.c, w.s[:]
	case 2:
		w := new(pnWire2)
		c, s = &w.c, w.s[:]
	default:
		c, s = new(PNCounter), make([]Slot, len(p)+len(n))
	}
	k := copy(s, p)
	copy(s[k:], n)
	if len(p) > 0 {
		c.P.S = s[:k:k]
	}
	if len(n) > 0 {
		c.N.S = s[k:]
	}
	return c
}

// Clone returns a deep copy of c as a wire state.
func (c *PNCounter) Clone() *PNCounter {
	return &PNCounter{P: *c.P.Clone(), N: *c.N.Clone()}
}

// Empty returns an empty wire state.
func (c *PNCounter) Empty() *PNCounter { return &PNCounter{} }

// Validate checks both halves (see GCounter.Validate).
func (c *PNCounter) Validate() error {
	if err := c.P.Validate(); err != nil {
		return fmt.Errorf("pncounter increments: %w", err)
	}
	if err := c.N.Validate(); err != nil {
		return fmt.Errorf("pncounter decrements: %w", err)
	}
	return nil
}

// Check checks both halves (see GCounter.Check); each half may hold
// b.MaxReplicas slots.
func (c *PNCounter) Check(other *PNCounter, origin Replica, b Bounds) error {
	if other == nil {
		return nil
	}
	if err := c.P.Check(&other.P, origin, b); err != nil {
		return fmt.Errorf("increments: %w", err)
	}
	if err := c.N.Check(&other.N, origin, b); err != nil {
		return fmt.Errorf("decrements: %w", err)
	}
	return nil
}

// Sanitize drops the slots above b.MaxCount from both halves.
func (c *PNCounter) Sanitize(b Bounds) int {
	return c.P.Sanitize(b) + c.N.Sanitize(b)
}
