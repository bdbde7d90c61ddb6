package crdt

import (
	"cmp"
	"fmt"
	"slices"
)

// Dot names one event: the Counter-th event of Replica. An ORSet tags each
// addition with a fresh dot.
type Dot struct {
	_       struct{} `cbor:",toarray"`
	Replica Replica
	Counter uint64
}

// Compare orders dots by Replica, then Counter.
func (d Dot) Compare(o Dot) int {
	// Dots of one replica are the common case, and string equality is
	// cheaper than ordering.
	if d.Replica != o.Replica {
		return d.Replica.Compare(o.Replica)
	}
	return cmp.Compare(d.Counter, o.Counter)
}

// The causal context of an ORSet is the set of dots it has seen, held in
// two sorted slices: vv, a version vector with one Dot per replica meaning
// "dots 1..Counter of this replica", and cloud, the other seen dots, each
// more than one past its replica's vv entry (compacted: a dot right after
// the vv entry is folded into it). Both are canonical, so equal contexts
// have equal slices.

func vvGet(vv []Dot, r Replica) uint64 {
	if i, ok := slices.BinarySearchFunc(vv, r, func(d Dot, r Replica) int { return d.Replica.Compare(r) }); ok {
		return vv[i].Counter
	}
	return 0
}

func ctxContains(vv, cloud []Dot, d Dot) bool {
	if d.Counter <= vvGet(vv, d.Replica) {
		return true
	}
	_, ok := slices.BinarySearchFunc(cloud, d, Dot.Compare)
	return ok
}

// ctxMax returns the highest counter of r in the context.
func ctxMax(vv, cloud []Dot, r Replica) uint64 {
	m := vvGet(vv, r)
	i, _ := slices.BinarySearchFunc(cloud, Dot{Replica: r, Counter: 0}, Dot.Compare)
	for ; i < len(cloud) && cloud[i].Replica == r; i++ {
		m = max(m, cloud[i].Counter)
	}
	return m
}

// ctxUnion returns the compacted union of two canonical contexts. It does
// not modify its arguments.
func ctxUnion(av, ac, bv, bc []Dot) (vv, cloud []Dot) {
	// Version vectors: per replica maximum.
	vv = make([]Dot, 0, max(len(av), len(bv)))
	for i, j := 0, 0; i < len(av) || j < len(bv); {
		switch {
		case j == len(bv) || i < len(av) && av[i].Replica.Compare(bv[j].Replica) < 0:
			vv = append(vv, av[i])
			i++
		case i == len(av) || av[i].Replica.Compare(bv[j].Replica) > 0:
			vv = append(vv, bv[j])
			j++
		default:
			vv = append(vv, Dot{Replica: av[i].Replica, Counter: max(av[i].Counter, bv[j].Counter)})
			i++
			j++
		}
	}
	// Clouds: sorted union, then fold into vv what became contiguous.
	all := make([]Dot, 0, len(ac)+len(bc))
	for i, j := 0, 0; i < len(ac) || j < len(bc); {
		switch {
		case j == len(bc) || i < len(ac) && ac[i].Compare(bc[j]) < 0:
			all = append(all, ac[i])
			i++
		case i == len(ac) || ac[i].Compare(bc[j]) > 0:
			all = append(all, bc[j])
			j++
		default:
			all = append(all, ac[i])
			i++
			j++
		}
	}
	return compactContext(vv, all)
}

// compactContext folds the sorted, distinct dots into the sorted version
// vector vv and returns the canonical pair. It may modify vv, and returns
// the cloud in dots' array, overwriting it.
func compactContext(vv, dots []Dot) ([]Dot, []Dot) {
	var added []Dot             // vv entries for replicas vv lacks
	cloud := dots[:0:len(dots)] // written behind the reads, so in place
	for i := 0; i < len(dots); {
		r := dots[i].Replica
		vi, inVV := slices.BinarySearchFunc(vv, r, func(d Dot, r Replica) int { return d.Replica.Compare(r) })
		var top uint64
		if inVV {
			top = vv[vi].Counter
		}
		for ; i < len(dots) && dots[i].Replica == r; i++ {
			c := dots[i].Counter
			switch {
			case c <= top:
				// already covered
			case c == top+1:
				top = c
			default:
				cloud = append(cloud, dots[i])
			}
		}
		switch {
		case inVV:
			vv[vi].Counter = top
		case top > 0:
			added = append(added, Dot{Replica: r, Counter: top})
		}
	}
	if len(added) > 0 {
		vv = insertSorted(vv, added, func(a, b Dot) int { return a.Replica.Compare(b.Replica) })
	}
	// Dots are ascending per replica, so once one was left in the cloud no
	// later one could be folded; this pass only normalises empty slices.
	kept := cloud[:0]
	for _, d := range cloud {
		if d.Counter > vvGet(vv, d.Replica)+1 {
			kept = append(kept, d)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	if len(vv) == 0 {
		vv = nil
	}
	return vv, kept
}

// validateContext checks that vv and cloud are canonical.
func validateContext(vv, cloud []Dot) error {
	for i, d := range vv {
		if d.Replica.IsZero() || d.Counter == 0 {
			return fmt.Errorf("%w: version vector entry %d (%s:%d) is empty", ErrInvalidState, i, d.Replica, d.Counter)
		}
		if i > 0 && vv[i-1].Replica.Compare(d.Replica) >= 0 {
			return fmt.Errorf("%w: version vector entry %d (%s) is not after %s", ErrInvalidState, i, d.Replica, vv[i-1].Replica)
		}
	}
	for i, d := range cloud {
		if d.Replica.IsZero() {
			return fmt.Errorf("%w: context dot %d has the zero replica", ErrInvalidState, i)
		}
		if i > 0 && cloud[i-1].Compare(d) >= 0 {
			return fmt.Errorf("%w: context dot %d (%s:%d) is not after %s:%d", ErrInvalidState, i, d.Replica, d.Counter, cloud[i-1].Replica, cloud[i-1].Counter)
		}
		if top := vvGet(vv, d.Replica); d.Counter <= top || d.Counter-top == 1 {
			return fmt.Errorf("%w: context dot %s:%d is not compacted into the version vector (%d)", ErrInvalidState, d.Replica, d.Counter, top)
		}
	}
	return nil
}
