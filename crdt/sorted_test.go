package crdt

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInsertSortedMatchesSortingTheUnion checks both ways of finding the
// places (binary search for a few inserts, a walk for many) against
// sorting the union, at the edges too: inserts before, after and between
// every element, into empty and full slices.
func TestInsertSortedMatchesSortingTheUnion(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 2000 {
		n, m := rng.IntN(200), 1+rng.IntN(40) // callers insert something
		if round%4 == 0 {
			m = 1 + rng.IntN(3) // a delta's few inserts: the binary search
		}
		keys := rng.Perm(2 * (n + m + 1))[:n+m]
		dst := slices.Clone(keys[:n])
		ins := slices.Clone(keys[n:])
		slices.Sort(dst)
		slices.Sort(ins)
		dst = slices.Grow(dst, rng.IntN(4))[:n] // spare capacity or none

		got := insertSorted(dst, ins, cmp.Compare[int])
		want := slices.Sorted(slices.Values(keys))
		require.Equal(t, want, got, "round %d: %d into %d", round, m, n)
	}
}

// BenchmarkGCounterMergeNewReplica merges a one-slot delta from a replica
// the counter does not hold yet into a counter of 1,000 slots: what each
// node of a 1,000-node cluster does when a node counts for the first time
// (or restarts under a new incarnation).
func BenchmarkGCounterMergeNewReplica(b *testing.B) {
	base := &GCounter{}
	for i := range 1000 {
		base.S = append(base.S, Slot{Replica: Replica{Node: fmt.Sprintf("node-%04d", 2*i), Incarnation: 1}, N: 1})
	}
	deltas := make([]*GCounter, 1000)
	for i := range deltas {
		deltas[i] = &GCounter{S: []Slot{{Replica: Replica{Node: fmt.Sprintf("node-%04d", 2*i+1), Incarnation: 1}, N: 1}}}
	}
	x := base.Clone()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(deltas) == 0 {
			b.StopTimer()
			x = base.Clone()
			b.StartTimer()
		}
		if _, changed := x.Merge(t0, deltas[i%len(deltas)]); !changed {
			b.Fatal("merge changed nothing")
		}
	}
}
