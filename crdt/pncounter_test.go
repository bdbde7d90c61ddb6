package crdt

import (
	"slices"
	"testing"
	"time"
)

// A receiver merging a delta that is all new (what a burst or a relay
// brings) allocates nothing for the effect: the delta is the effect. A
// delta costs one allocation. BenchmarkBurst5000Values measured these
// allocations as most of what a burst cost the GC.
func TestCounterDeltaAndMergeAllocations(t *testing.T) {
	now := time.Unix(1700000000, 0)
	sender := NewPNCounter(Replica{Node: "a", Incarnation: 1})
	receiver := NewPNCounter(Replica{Node: "b", Incarnation: 1})
	sender.Add(1)
	sender.Add(-1)
	first, _ := sender.Delta()
	receiver.Merge(now, first) // the slots exist from here on
	if got := testing.AllocsPerRun(100, func() {
		sender.Add(2)
		sender.Add(-1)
		d, ok := sender.Delta()
		if !ok {
			t.Fatal("no delta")
		}
		eff, changed := receiver.Merge(now, d)
		if !changed || eff != d {
			t.Fatalf("effect %+v, changed %v: want the delta itself", eff, changed)
		}
	}); got != 1 {
		t.Errorf("a delta and its merge allocate %v times, want 1", got)
	}
	if receiver.Value() != sender.Value() {
		t.Fatalf("receiver reads %d, sender %d", receiver.Value(), sender.Value())
	}
	// A delta only part of which is new yields the new part alone.
	stale := &PNCounter{P: GCounter{S: []Slot{{Replica: Replica{Node: "a", Incarnation: 1}, N: 1}}},
		N: GCounter{S: []Slot{{Replica: Replica{Node: "c", Incarnation: 1}, N: 5}}}}
	eff, changed := receiver.Merge(now, stale)
	if !changed || eff == stale || len(eff.P.S) != 0 || len(eff.N.S) != 1 || eff.N.S[0].N != 5 {
		t.Fatalf("effect of a partly new delta: %+v", eff)
	}
}

// PNCounterOf copies its halves (an empty one is nil), in one allocation
// for up to two slots.
func TestPNCounterOf(t *testing.T) {
	a := Slot{Replica: Replica{Node: "a", Incarnation: 1}, N: 3}
	b := Slot{Replica: Replica{Node: "b", Incarnation: 2}, N: 5}
	for _, tc := range []struct {
		p, n []Slot
	}{
		{nil, nil}, {[]Slot{a}, nil}, {nil, []Slot{b}}, {[]Slot{a}, []Slot{b}},
		{[]Slot{a, b}, nil}, {[]Slot{a, b}, []Slot{a}},
	} {
		c := PNCounterOf(tc.p, tc.n)
		if !slices.Equal(c.P.S, tc.p) || !slices.Equal(c.N.S, tc.n) || (c.P.S == nil) != (len(tc.p) == 0) || (c.N.S == nil) != (len(tc.n) == 0) {
			t.Fatalf("PNCounterOf(%v, %v) = %+v", tc.p, tc.n, c)
		}
		if got := c.Value(); got != int64(sum(tc.p))-int64(sum(tc.n)) {
			t.Fatalf("PNCounterOf(%v, %v) reads %d", tc.p, tc.n, got)
		}
		if len(tc.p) > 0 {
			tc.p[0].N++ // the caller's slice is not the state's
			if c.P.S[0].N == tc.p[0].N {
				t.Fatalf("PNCounterOf(%v, %v) shares the caller's slots", tc.p, tc.n)
			}
			tc.p[0].N--
		}
		if len(tc.p)+len(tc.n) <= 2 {
			if n := testing.AllocsPerRun(50, func() { PNCounterOf(tc.p, tc.n) }); n != 1 {
				t.Errorf("PNCounterOf(%v, %v): %v allocations, want 1", tc.p, tc.n, n)
			}
		}
	}
}

func sum(s []Slot) (n uint64) {
	for _, x := range s {
		n += x.N
	}
	return n
}
