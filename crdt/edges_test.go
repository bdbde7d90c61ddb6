package crdt

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

// Edge cases the law tests do not reach: lower bounds of Validate, exact
// fits, effects and deltas that must carry only what changed, and
// arithmetic at bucket and clock boundaries.

func TestValidateAcceptsWhatIsAtItsBounds(t *testing.T) {
	w := mustWindow(t, ra, 10*time.Second, 5) // width 2 s
	width := int64(2 * time.Second)
	minIdx, maxIdx := math.MinInt64/width, math.MaxInt64/width
	for name, slots := range map[string][]WindowSlot{
		"span of B buckets": {{Replica: ra, Buckets: []Bucket{{Index: 1, N: 1}, {Index: 6, N: 1}}}},
		"lowest index":      {{Replica: ra, Buckets: []Bucket{{Index: minIdx, N: 1}}}},
		"highest index":     {{Replica: ra, Buckets: []Bucket{{Index: maxIdx, N: 1}}}},
		"count 1":           {{Replica: ra, Buckets: []Bucket{{Index: 3, N: 1}}}},
	} {
		s := w.Empty()
		s.Slots = slots
		if err := s.Validate(); err != nil {
			t.Errorf("window %s: Validate = %v", name, err)
		}
	}
	for name, slots := range map[string][]WindowSlot{
		"below the lowest index":  {{Replica: ra, Buckets: []Bucket{{Index: minIdx - 1, N: 1}}}},
		"above the highest index": {{Replica: ra, Buckets: []Bucket{{Index: maxIdx + 1, N: 1}}}},
		"duplicate bucket":        {{Replica: ra, Buckets: []Bucket{{Index: 2, N: 1}, {Index: 2, N: 1}}}},
		"span of B+1 buckets":     {{Replica: ra, Buckets: []Bucket{{Index: 1, N: 1}, {Index: 7, N: 1}}}},
	} {
		s := w.Empty()
		s.Slots = slots
		if err := s.Validate(); !errors.Is(err, ErrInvalidState) {
			t.Errorf("window %s: Validate = %v, want ErrInvalidState", name, err)
		}
	}

	if err := gc(Slot{Replica: ra, N: 1}, Slot{Replica: rb, N: 1}).Validate(); err != nil {
		t.Errorf("gcounter count 1: %v", err)
	}
	for name, s := range map[string]*ORSet[int]{
		"vv duplicate":    {VV: []Dot{{Replica: ra, Counter: 1}, {Replica: ra, Counter: 2}}},
		"cloud duplicate": {Cloud: []Dot{{Replica: ra, Counter: 3}, {Replica: ra, Counter: 3}}},
		"entry duplicate": {VV: []Dot{{Replica: ra, Counter: 1}}, E: []ORSetEntry[int]{{Elem: 1, Dot: Dot{Replica: ra, Counter: 1}}, {Elem: 1, Dot: Dot{Replica: ra, Counter: 1}}}},
		"cloud zero":      {Cloud: []Dot{{Replica: ra}}},
	} {
		if err := s.Validate(); !errors.Is(err, ErrInvalidState) {
			t.Errorf("orset %s: Validate = %v, want ErrInvalidState", name, err)
		}
	}
	for name, s := range map[string]*ORSet[int]{
		"entry at the vv":     {VV: []Dot{{Replica: ra, Counter: 3}}, E: []ORSetEntry[int]{{Elem: 1, Dot: Dot{Replica: ra, Counter: 3}}}},
		"cloud two past vv":   {VV: []Dot{{Replica: ra, Counter: 3}}, Cloud: []Dot{{Replica: ra, Counter: 5}}},
		"cloud of a new node": {Cloud: []Dot{{Replica: ra, Counter: 2}}},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("orset %s: Validate = %v", name, err)
		}
	}
}

// An ORSet's effect holds only the replicas whose dots changed the
// receiver: what it already knew of others is not forwarded again.
func TestORSetEffectCarriesOnlyWhatChanged(t *testing.T) {
	a := NewORSet[string](ra)
	a.Add("x")
	b := NewORSet[string](rb)
	b.Add("y")
	b.Merge(t0, a.Clone())
	a.Merge(t0, b.Clone())
	c := NewORSet[string](rc)
	c.Merge(t0, b.Clone())
	c.Add("z")

	eff, changed := a.Merge(t0, c.Clone())
	if !changed {
		t.Fatal("c's add did not change a")
	}
	want := &ORSet[string]{E: []ORSetEntry[string]{{Elem: "z", Dot: Dot{Replica: rc, Counter: 1}}}, VV: []Dot{{Replica: rc, Counter: 1}}}
	if string(canon(t, eff)) != string(canon(t, want)) {
		t.Fatalf("effect = %+v, want only c's add %+v", eff, want)
	}
}

// A WindowCounter's delta holds the buckets changed since the last Delta,
// not the whole ring.
func TestWindowCounterDeltaCarriesOnlyWhatChanged(t *testing.T) {
	w := mustWindow(t, ra, 10*time.Second, 5)
	width := 2 * time.Second
	idx := base.UnixNano() / int64(width)
	w.AddAt(base, 1)
	w.AddAt(base.Add(width), 2)
	if _, ok := w.Delta(); !ok {
		t.Fatal("no first delta")
	}
	w.AddAt(base.Add(2*width), 3)
	d, ok := w.Delta()
	if !ok || len(d.Slots) != 1 || !slices.Equal(d.Slots[0].Buckets, []Bucket{{Index: idx + 2, N: 3}}) {
		t.Fatalf("delta = %+v, want only bucket %d", d, idx+2)
	}
	w.AddAt(base.Add(2*width), 1)
	d, ok = w.Delta()
	if !ok || !slices.Equal(d.Slots[0].Buckets, []Bucket{{Index: idx + 2, N: 4}}) {
		t.Fatalf("delta = %+v, want only bucket %d at 4", d, idx+2)
	}
}

// ReplicaRate over a span that is not a whole number of buckets rounds the
// span up to whole buckets: 2.5 buckets is 3.
func TestWindowCounterRateOverAPartialSpan(t *testing.T) {
	w := mustWindow(t, ra, 10*time.Second, 10) // width 1 s
	for k := 0; k < 4; k++ {
		w.AddAt(base.Add(time.Duration(k)*time.Second), 10)
	}
	now := base.Add(3*time.Second + 500*time.Millisecond) // half into the 4th bucket
	// 3 buckets: the current and the one before in full, 2 back in full,
	// 3 back weighted by the half still inside: (10+10+10 + 10·0.5) / 3 s.
	got := w.ReplicaRate(ra, now, 2500*time.Millisecond)
	if want := 35.0 / 3; math.Abs(got-want) > 1e-9 {
		t.Fatalf("ReplicaRate(2.5 s) = %v, want %v", got, want)
	}
	if got, want := w.ReplicaRate(ra, now, 3*time.Second), 35.0/3; math.Abs(got-want) > 1e-9 {
		t.Fatalf("ReplicaRate(3 s) = %v, want %v", got, want)
	}
}
