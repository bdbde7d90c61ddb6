package crdt

import (
	"fmt"
	"slices"
	"time"
)

// An ORSet has no counts to fold: what grows with history is its causal
// context, one version vector entry (and perhaps a few cloud dots) per
// replica that ever added an element. A gone replica's context entry must
// stay while an element it added is in the set (the entry's dot must stay
// inside the context) and while a late message from it may arrive (a dot
// it issued and this set has removed must still read as seen, or the
// element comes back). So retirement here is a replicated mark with a
// time: once the mark is a horizon old, the replica is gone and no element
// carries its dots, each member drops the replica's context on its own.

// ContextRetirement marks that Replica is gone since At (unix nanoseconds):
// its dots leave the context of an ORSet a horizon later, once no element
// carries one. Two marks of one replica join to the later.
type ContextRetirement struct {
	_       struct{} `cbor:",toarray"`
	Replica Replica
	At      int64
}

var _ Retirer = (*ORSet[string])(nil)

func compareContextRetirement(a, b ContextRetirement) int { return a.Replica.Compare(b.Replica) }

// joinContextRetired joins in into *dst (both sorted by replica) and
// returns the incoming marks that changed it.
func joinContextRetired(dst *[]ContextRetirement, in []ContextRetirement) (changed []ContextRetirement) {
	var ins []ContextRetirement
	d := *dst
	i := 0
	for _, o := range in {
		for i < len(d) && d[i].Replica.Compare(o.Replica) < 0 {
			i++
		}
		if i < len(d) && d[i].Replica == o.Replica {
			if o.At > d[i].At {
				d[i].At = o.At
				changed = append(changed, o)
			}
			continue
		}
		ins = append(ins, o)
		changed = append(changed, o)
	}
	if len(ins) > 0 {
		*dst = insertSorted(d, ins, compareContextRetirement)
	}
	return changed
}

func validateContextRetired(rs []ContextRetirement) error {
	for i := range rs {
		if rs[i].Replica.IsZero() {
			return fmt.Errorf("%w: context retirement %d has the zero replica", ErrInvalidState, i)
		}
		if i > 0 && rs[i-1].Replica.Compare(rs[i].Replica) >= 0 {
			return fmt.Errorf("%w: context retirement %d (%s) is not after %s", ErrInvalidState, i, rs[i].Replica, rs[i-1].Replica)
		}
	}
	return nil
}

// mergeRetired is Merge when other carries marks: they join, then the rest
// of other merges as usual.
func (s *ORSet[T]) mergeRetired(now time.Time, other *ORSet[T]) (effect *ORSet[T], changed bool) {
	marks := joinContextRetired(&s.Gone, other.Gone)
	eff, ch := s.Merge(now, &ORSet[T]{E: other.E, VV: other.VV, Cloud: other.Cloud})
	if len(marks) == 0 {
		return eff, ch
	}
	if eff == nil {
		eff = &ORSet[T]{}
	}
	eff.Gone = marks
	return eff, true
}

// Retired returns a copy of the set's retirement marks. The caller owns it.
func (s *ORSet[T]) Retired() []ContextRetirement { return slices.Clone(s.Gone) }

// Retire marks the gone replicas in the context (when this replica is the
// plan's folder) and drops the context of replicas marked at least a
// horizon ago that no element's dot names. Marks go out with the next
// Delta; dropping is local. It costs O(context + marks), plus one pass over
// the elements when some mark is old enough.
func (s *ORSet[T]) Retire(now time.Time, p RetirePlan) bool {
	if s.self.IsZero() || p.Gone == nil {
		return false
	}
	var marks []ContextRetirement
	// A mark of this replica itself (made while it was alive, which a
	// partition can cause) is refreshed every half horizon, so no member
	// drops the context of a live replica.
	if i, ok := slices.BinarySearchFunc(s.Gone, s.self, func(m ContextRetirement, r Replica) int { return m.Replica.Compare(r) }); ok &&
		s.Gone[i].At <= now.Add(-p.Horizon/2).UnixNano() {
		marks = append(marks, ContextRetirement{Replica: s.self, At: now.UnixNano()})
	}
	if p.Folder {
		at := now.UnixNano()
		mark := func(r Replica) {
			if r == s.self || (len(marks) > 0 && marks[len(marks)-1].Replica == r) {
				return
			}
			if _, ok := slices.BinarySearchFunc(s.Gone, r, func(m ContextRetirement, r Replica) int { return m.Replica.Compare(r) }); ok {
				return
			}
			if p.Gone(r) {
				marks = append(marks, ContextRetirement{Replica: r, At: at})
			}
		}
		for _, d := range s.VV {
			mark(d.Replica)
		}
		for _, d := range s.Cloud {
			mark(d.Replica)
		}
	}
	slices.SortFunc(marks, compareContextRetirement)
	marks = slices.CompactFunc(marks, func(a, b ContextRetirement) bool { return a.Replica == b.Replica })

	// Forget: only look at the elements when a mark is old enough.
	settled := now.Add(-p.Horizon).UnixNano()
	var ripe []Replica
	for _, m := range s.Gone {
		if m.At <= settled && p.Gone(m.Replica) {
			ripe = append(ripe, m.Replica)
		}
	}
	if len(ripe) > 0 {
		for _, e := range s.E {
			if i, ok := slices.BinarySearchFunc(ripe, e.Dot.Replica, Replica.Compare); ok {
				ripe = slices.Delete(ripe, i, i+1)
			}
		}
	}
	if len(ripe) > 0 {
		drop := func(r Replica) bool {
			_, ok := slices.BinarySearchFunc(ripe, r, Replica.Compare)
			return ok
		}
		s.VV = slices.DeleteFunc(s.VV, func(d Dot) bool { return drop(d.Replica) })
		s.Cloud = slices.DeleteFunc(s.Cloud, func(d Dot) bool { return drop(d.Replica) })
		s.Gone = slices.DeleteFunc(s.Gone, func(m ContextRetirement) bool { return drop(m.Replica) })
		if len(s.VV) == 0 {
			s.VV = nil
		}
		if len(s.Cloud) == 0 {
			s.Cloud = nil
		}
		if len(s.Gone) == 0 {
			s.Gone = nil
		}
	}

	if len(marks) == 0 {
		return false
	}
	joinContextRetired(&s.Gone, marks)
	d := &ORSet[T]{Gone: marks}
	if s.pending == nil {
		s.pending = d
	} else {
		s.pending.Merge(now, d)
	}
	return true
}
