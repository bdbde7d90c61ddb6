package crdt

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestORSetLaws(t *testing.T) {
	checkLaws(t, lawCase[*ORSet[string]]{
		step: time.Millisecond,
		start: func() (func(Replica) *ORSet[string], func(*rapid.T, *ORSet[string], Replica, time.Time), func(*rapid.T, *ORSet[string], time.Time)) {
			// The naive model: the classic OR-Set with a tag per add and a
			// tombstone per removed tag, never compacted.
			adds := map[Dot]string{}
			removed := map[Dot]bool{}
			op := func(rt *rapid.T, s *ORSet[string], r Replica, _ time.Time) {
				v := rapid.SampledFrom([]string{"x", "y", "z"}).Draw(rt, "v")
				lo, hi := s.elemRange(v)
				for _, e := range s.E[lo:hi] {
					removed[e.Dot] = true // both Add and Remove replace what they observed
				}
				if rapid.IntRange(0, 2).Draw(rt, "op") == 0 {
					s.Remove(v)
					if s.Contains(v) {
						rt.Fatalf("Contains(%s) after Remove", v)
					}
					return
				}
				s.Add(v)
				lo, hi = s.elemRange(v)
				if hi-lo != 1 || s.E[lo].Dot.Replica != r {
					rt.Fatalf("after Add(%s) want exactly one own entry, got %v", v, s.E[lo:hi])
				}
				adds[s.E[lo].Dot] = v
			}
			check := func(rt *rapid.T, s *ORSet[string], _ time.Time) {
				want := []string{}
				for d, v := range adds {
					if !removed[d] && !slices.Contains(want, v) {
						want = append(want, v)
					}
				}
				slices.Sort(want)
				got := s.Elements()
				if got == nil {
					got = []string{}
				}
				if !slices.Equal(got, want) || s.Len() != len(want) {
					rt.Fatalf("Elements = %v (Len %d), want %v", got, s.Len(), want)
				}
				for _, v := range want {
					if !s.Contains(v) {
						rt.Fatalf("Contains(%s) = false", v)
					}
				}
			}
			return NewORSet[string], op, check
		},
	})
}

func TestORSetAddWins(t *testing.T) {
	a := NewORSet[string](Replica{"a", 1})
	b := NewORSet[string](Replica{"b", 1})
	a.Add("x")
	b.Merge(t0, a.Clone())
	// Concurrently: b removes x (the add it saw), a adds x again.
	b.Remove("x")
	a.Add("x")
	a.Merge(t0, b.Clone())
	b.Merge(t0, a.Clone())
	if !a.Contains("x") || !b.Contains("x") {
		t.Fatalf("the concurrent add must win: a %v, b %v", a.Elements(), b.Elements())
	}
	// A remove that has seen every add wins.
	b.Remove("x")
	a.Merge(t0, b.Clone())
	if a.Contains("x") || a.Len() != 0 {
		t.Fatalf("x survived a remove that observed it: %v", a.Elements())
	}
	// Nothing of x is left but the context: no tombstones per element.
	if len(a.E) != 0 || len(a.Cloud) != 0 {
		t.Fatalf("state after removal: entries %v cloud %v", a.E, a.Cloud)
	}
}

func TestORSetDeltaOutOfOrder(t *testing.T) {
	a := NewORSet[int](Replica{"a", 1})
	c := NewORSet[int](Replica{"c", 1})
	a.Add(1)
	d1, _ := a.Delta()
	a.Add(2)
	d2, _ := a.Delta()
	a.Remove(1)
	d3, _ := a.Delta()
	// c gets the deltas in reverse order; the gap in a's dots stays in the
	// cloud until it is filled.
	c.Merge(t0, d3)
	c.Merge(t0, d2)
	if c.Contains(1) || !c.Contains(2) {
		t.Fatalf("after d3, d2: %v", c.Elements())
	}
	c.Merge(t0, d1) // the add of 1 was already removed: it stays out
	if !slices.Equal(c.Elements(), []int{2}) {
		t.Fatalf("Elements = %v, want [2]", c.Elements())
	}
	if len(c.Cloud) != 0 || len(c.VV) != 1 || c.VV[0].Counter != 2 {
		t.Fatalf("context not compacted: vv %v cloud %v", c.VV, c.Cloud)
	}
}

// TestORSetDeltaIsJoinOfChanges checks Delta against its definition, the
// join of the one-change deltas since the previous Delta, built here the
// straightforward way: whatever remote merges come in between (one may
// remove an element added since the last Delta) and however many changes
// are folded before a Delta.
func TestORSetDeltaIsJoinOfChanges(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		a := NewORSet[int](Replica{"a", 1})
		b := NewORSet[int](Replica{"b", 1})
		var want *ORSet[int]
		join := func(e []ORSetEntry[int], dots []Dot) {
			slices.SortFunc(dots, Dot.Compare)
			d := &ORSet[int]{E: e}
			d.VV, d.Cloud = compactContext(nil, dots)
			if want == nil {
				want = d
			} else {
				want.Merge(t0, d)
			}
		}
		observed := func(v int) []Dot {
			lo, hi := a.elemRange(v)
			var dots []Dot
			for _, e := range a.E[lo:hi] {
				dots = append(dots, e.Dot)
			}
			return dots
		}
		checkDelta := func() {
			got, ok := a.Delta()
			if ok != (want != nil) {
				rt.Fatalf("Delta ok = %v, want %v", ok, want != nil)
			}
			if ok && !bytes.Equal(canon(rt, got), canon(rt, want)) {
				rt.Fatalf("Delta = %+v\nwant    %+v", got, want)
			}
			want = nil
		}
		steps := rapid.IntRange(0, 300).Draw(rt, "steps")
		for range steps {
			v := rapid.IntRange(0, 5).Draw(rt, "v")
			switch rapid.IntRange(0, 9).Draw(rt, "kind") {
			case 0, 1, 2, 3:
				dots := observed(v)
				a.Add(v)
				lo, _ := a.elemRange(v)
				e := a.E[lo]
				join([]ORSetEntry[int]{e}, append(dots, e.Dot))
			case 4, 5:
				if dots := observed(v); len(dots) > 0 {
					join(nil, dots)
				}
				a.Remove(v)
			case 6:
				b.Add(v)
			case 7:
				b.Remove(v)
			case 8:
				b.Merge(t0, a.Clone())
				a.Merge(t0, b.Clone())
			case 9:
				checkDelta()
			}
		}
		checkDelta()
		if len(a.covered) != 0 || len(a.added) != 0 || a.pending != nil {
			rt.Fatalf("changes left after Delta: %d dots, %d entries, pending %v", len(a.covered), len(a.added), a.pending)
		}
	})
}

// TestORSetChangesStayBounded checks that changes not taken by Delta are
// folded, so that their memory follows the state's size, not their number.
func TestORSetChangesStayBounded(t *testing.T) {
	s := NewORSet[int](Replica{"a", 1})
	for i := range 10_000 {
		s.Add(i % 10)
		if i%3 == 0 {
			s.Remove((i + 5) % 10)
		}
	}
	if limit := 2*(len(s.E)+len(s.VV)+len(s.Cloud)) + foldSlack + 2; len(s.added)+len(s.covered) > limit {
		t.Fatalf("%d changes recorded, want at most %d", len(s.added)+len(s.covered), limit)
	}
	if s.pending == nil || len(s.pending.E) > 10 || len(s.pending.Cloud) != 0 {
		t.Fatalf("pending delta not folded: %+v", s.pending)
	}
	d, ok := s.Delta()
	if !ok {
		t.Fatal("Delta reported no changes")
	}
	// The delta holds the surviving entries and every dot a issued.
	if !slices.Equal(d.E, s.E) || len(d.VV) != 1 || d.VV[0] != s.VV[0] || d.Cloud != nil {
		t.Fatalf("Delta = %+v, want the state %+v", d, s)
	}
	if _, ok := s.Delta(); ok {
		t.Fatal("a second Delta reported changes")
	}
}

func TestORSetValidate(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	for _, tc := range []struct {
		name string
		s    ORSet[int]
	}{
		{"vv unsorted", ORSet[int]{VV: []Dot{{Replica: b, Counter: 1}, {Replica: a, Counter: 1}}}},
		{"vv zero counter", ORSet[int]{VV: []Dot{{Replica: a}}}},
		{"cloud not compacted", ORSet[int]{VV: []Dot{{Replica: a, Counter: 1}}, Cloud: []Dot{{Replica: a, Counter: 2}}}},
		{"cloud covered", ORSet[int]{VV: []Dot{{Replica: a, Counter: 3}}, Cloud: []Dot{{Replica: a, Counter: 2}}}},
		{"cloud first dot", ORSet[int]{Cloud: []Dot{{Replica: a, Counter: 1}}}},
		{"cloud unsorted", ORSet[int]{Cloud: []Dot{{Replica: a, Counter: 5}, {Replica: a, Counter: 3}}}},
		{"entry outside context", ORSet[int]{E: []ORSetEntry[int]{{Elem: 1, Dot: Dot{Replica: a, Counter: 1}}}}},
		{"entries unsorted", ORSet[int]{VV: []Dot{{Replica: a, Counter: 2}}, E: []ORSetEntry[int]{{Elem: 2, Dot: Dot{Replica: a, Counter: 1}}, {Elem: 1, Dot: Dot{Replica: a, Counter: 2}}}}},
		{"dot used twice", ORSet[int]{VV: []Dot{{Replica: a, Counter: 2}}, E: []ORSetEntry[int]{{Elem: 1, Dot: Dot{Replica: a, Counter: 1}}, {Elem: 2, Dot: Dot{Replica: a, Counter: 1}}}}},
		{"empty dot", ORSet[int]{E: []ORSetEntry[int]{{Elem: 1}}}},
	} {
		if err := tc.s.Validate(); !errors.Is(err, ErrInvalidState) {
			t.Errorf("%s: Validate = %v, want ErrInvalidState", tc.name, err)
		}
	}
	ok := ORSet[int]{VV: []Dot{{Replica: a, Counter: 2}}, Cloud: []Dot{{Replica: a, Counter: 4}, {Replica: b, Counter: 7}},
		E: []ORSetEntry[int]{{Elem: 1, Dot: Dot{Replica: a, Counter: 4}}, {Elem: 1, Dot: Dot{Replica: b, Counter: 7}}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(valid) = %v", err)
	}
}

func TestORSetGarbage(t *testing.T) {
	genDot := rapid.Custom(func(t *rapid.T) Dot {
		return Dot{Replica: genReplica().Draw(t, "r"), Counter: rapid.Uint64Range(0, 4).Draw(t, "c")}
	})
	rapid.Check(t, func(rt *rapid.T) {
		gen := func(name string) *ORSet[int] {
			return &ORSet[int]{
				E: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) ORSetEntry[int] {
					return ORSetEntry[int]{Elem: rapid.IntRange(0, 3).Draw(t, "e"), Dot: genDot.Draw(t, "d")}
				}), 0, 4).Draw(rt, name+".E"),
				VV:    rapid.SliceOfN(genDot, 0, 3).Draw(rt, name+".VV"),
				Cloud: rapid.SliceOfN(genDot, 0, 3).Draw(rt, name+".Cloud"),
			}
		}
		x, y := gen("x"), gen("y")
		local := NewORSet[int](Replica{"a", 1})
		local.Add(1)
		if x.Validate() == nil {
			local.Merge(t0, x)
			local.Add(2)
			local.Remove(0)
			if y.Validate() == nil {
				x.Merge(t0, y)
				if err := x.Validate(); err != nil {
					rt.Fatalf("merge of valid states is invalid: %v", err)
				}
			}
		}
		if err := local.Validate(); err != nil {
			rt.Fatalf("merging a valid state broke the invariants: %v", err)
		}
	})
}

func BenchmarkORSetAdd(b *testing.B) {
	s := NewORSet[int](Replica{"a", 1})
	for i := range 100 {
		s.Add(i)
	}
	s.Delta()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Add(i % 100)
		i++
		if i%100 == 0 {
			s.Delta()
		}
	}
}

func BenchmarkORSetRemove(b *testing.B) {
	s := NewORSet[int](Replica{"a", 1})
	for i := range 100 {
		s.Add(i)
	}
	s.Delta()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Each Remove is paired with the Add that puts the element back,
		// so the set keeps its 100 elements.
		s.Remove(i % 100)
		s.Add(i % 100)
		i++
		if i%100 == 0 {
			s.Delta()
		}
	}
}
