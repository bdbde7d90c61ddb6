package crdt

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

var (
	ra, rb, rc = Replica{"a", 1}, Replica{"b", 1}, Replica{"c", 1}
	tight      = Bounds{MaxCount: 1000, MaxStep: 100, MaxReplicas: 3}
)

// wantBound checks that err is an out-of-bounds error naming kind, or nil
// when kind is nil.
func wantBound(t *testing.T, what string, err, kind error) {
	t.Helper()
	switch {
	case kind == nil && err != nil:
		t.Errorf("%s: Check = %v, want nil", what, err)
	case kind != nil && (!errors.Is(err, ErrOutOfBounds) || !errors.Is(err, kind)):
		t.Errorf("%s: Check = %v, want %v", what, err, kind)
	}
}

func gc(slots ...Slot) *GCounter { return &GCounter{S: slots} }

// Every bound is checked at its edge: at the bound is accepted, one past
// it is refused.
func TestGCounterCheck(t *testing.T) {
	local := NewGCounter(ra)
	local.Add(500)
	local.Merge(t0, gc(Slot{Replica: rb, N: 10}))
	for _, tc := range []struct {
		name   string
		other  *GCounter
		origin Replica
		want   error
	}{
		{"at the ceiling", gc(Slot{Replica: rc, N: 1000}), Replica{}, nil},
		{"over the ceiling", gc(Slot{Replica: rc, N: 1001}), Replica{}, ErrCountCeiling},
		{"max uint64", gc(Slot{Replica: rc, N: math.MaxUint64}), rc, ErrCountCeiling},
		{"step at the bound", gc(Slot{Replica: rb, N: 110}), rb, nil},
		{"step past the bound", gc(Slot{Replica: rb, N: 111}), rb, ErrCountStep},
		{"states may step", gc(Slot{Replica: rb, N: 999}), Replica{}, nil},
		{"lower is no step", gc(Slot{Replica: rb, N: 1}), rb, nil},
		{"new slot: ceiling only", gc(Slot{Replica: rc, N: 1000}), rc, nil},
		{"foreign slot", gc(Slot{Replica: rb, N: 11}), rc, ErrForeignWrite},
		{"foreign among own", gc(Slot{Replica: rb, N: 11}, Slot{Replica: rc, N: 1}), rc, ErrForeignWrite},
		{"third replica fits", gc(Slot{Replica: rc, N: 1}), Replica{}, nil},
		{"fourth does not", gc(Slot{Replica: rc, N: 1}, Slot{Replica: Replica{"d", 1}, N: 1}), Replica{}, ErrTooManyReplicas},
		{"known replicas are not new", gc(Slot{Replica: ra, N: 501}, Slot{Replica: rb, N: 11}, Slot{Replica: rc, N: 1}), Replica{}, nil},
	} {
		before := canon(t, tc.other)
		wantBound(t, tc.name, local.Check(tc.other, tc.origin, tight), tc.want)
		if !bytes.Equal(before, canon(t, tc.other)) {
			t.Errorf("%s: Check modified its argument", tc.name)
		}
	}
	if err := local.Check(gc(Slot{Replica: rc, N: math.MaxUint64}), rc, Bounds{}); err != nil {
		t.Errorf("zero Bounds: Check = %v, want nil", err)
	}
}

func TestPNCounterCheckAndSanitize(t *testing.T) {
	local := NewPNCounter(ra)
	local.Add(5)
	local.Add(-2)
	// The poisoned replica sorts before the own one, so dropping it moves
	// the own slot.
	r0 := Replica{"0", 1}
	poison := &PNCounter{P: *gc(Slot{Replica: r0, N: math.MaxUint64}), N: *gc(Slot{Replica: r0, N: math.MaxUint64})}
	wantBound(t, "poisoned halves", local.Check(poison, r0, tight), ErrCountCeiling)
	wantBound(t, "decrement foreign", local.Check(&PNCounter{N: *gc(Slot{Replica: ra, N: 3})}, rb, tight), ErrForeignWrite)

	// A state poisoned before the check: it reads 0 until sanitized.
	local.Merge(t0, &PNCounter{P: *gc(Slot{Replica: rb, N: 4})})
	local.Merge(t0, poison)
	if v := local.Value(); v != 0 {
		t.Fatalf("poisoned Value = %d, want the saturated 0", v)
	}
	if n := local.Sanitize(tight); n != 2 {
		t.Fatalf("Sanitize dropped %d, want 2", n)
	}
	if v := local.Value(); v != 7 {
		t.Fatalf("sanitized Value = %d, want 7", v)
	}
	local.Add(1) // the own slot is still found
	if d, ok := local.Delta(); !ok || len(d.P.S) != 1 || d.P.S[0].Replica != ra || d.P.S[0].N != 6 || local.P.Get(rb) != 4 {
		t.Fatalf("Delta after Sanitize = %+v, %v", d, ok)
	}
	if n := local.Sanitize(tight); n != 0 {
		t.Fatalf("second Sanitize dropped %d", n)
	}
	// The own slot itself can be poisoned; it is dropped and comes back
	// from a peer.
	own := NewGCounter(ra)
	own.Add(7)
	own.Merge(t0, gc(Slot{Replica: ra, N: math.MaxUint64}))
	own.Sanitize(tight)
	own.Merge(t0, gc(Slot{Replica: ra, N: 7}))
	own.Add(1)
	if own.Value() != 8 || own.Get(ra) != 8 {
		t.Fatalf("own slot after heal = %d", own.Get(ra))
	}
}

func TestWindowCounterCheckAndSanitize(t *testing.T) {
	local := mustWindow(t, ra, 10*time.Second, 5) // width 2 s
	local.AddAt(base, 50)
	idx := base.UnixNano() / int64(2*time.Second)
	win := func(r Replica, bs ...Bucket) *WindowCounter {
		w := local.Empty()
		w.Slots = []WindowSlot{{Replica: r, Buckets: bs}}
		return w
	}
	for _, tc := range []struct {
		name   string
		other  *WindowCounter
		origin Replica
		want   error
	}{
		{"own bucket step at bound", win(ra, Bucket{Index: idx, N: 150}), ra, nil},
		{"own bucket step past bound", win(ra, Bucket{Index: idx, N: 151}), ra, ErrCountStep},
		{"new bucket counts from 0", win(ra, Bucket{Index: idx + 1, N: 101}), ra, ErrCountStep},
		{"new replica's bucket at step", win(rb, Bucket{Index: idx, N: 100}), rb, nil},
		{"over the ceiling", win(rb, Bucket{Index: idx, N: 1001}), Replica{}, ErrCountCeiling},
		{"at the ceiling", win(rb, Bucket{Index: idx, N: 1000}), Replica{}, nil},
		{"max uint64", win(rb, Bucket{Index: idx, N: math.MaxUint64}), rb, ErrCountCeiling},
		{"foreign", win(ra, Bucket{Index: idx, N: 51}), rb, ErrForeignWrite},
	} {
		wantBound(t, tc.name, local.Check(tc.other, tc.origin, tight), tc.want)
	}
	three := local.Empty()
	for _, r := range []Replica{rb, rc, {"d", 1}} {
		three.Slots = append(three.Slots, WindowSlot{Replica: r, Buckets: []Bucket{{Index: idx, N: 1}}})
	}
	wantBound(t, "fourth replica", local.Check(three, Replica{}, tight), ErrTooManyReplicas)
	three.Slots = three.Slots[:2]
	wantBound(t, "third replica", local.Check(three, Replica{}, tight), nil)

	// Poisoned before the check: the limit would deny everything.
	local.Merge(base, win(rb, Bucket{Index: idx, N: math.MaxUint64}))
	if n := local.Sanitize(tight); n != 1 {
		t.Fatalf("Sanitize dropped %d, want 1", n)
	}
	if v := local.ValueAt(base); v != 50 {
		t.Fatalf("ValueAt after Sanitize = %v, want 50", v)
	}
	local.AddAt(base, 1)
	if v := local.OwnValueAt(base); v != 51 {
		t.Fatalf("own count after Sanitize = %v, want 51", v)
	}
}

func TestORSetCheckAndSanitize(t *testing.T) {
	local := NewORSet[string](ra)
	local.Add("x")
	peer := NewORSet[string](rb)
	peer.Add("y")
	local.Merge(t0, peer.Clone()) // local knows a:1, b:1
	entry := func(elem string, r Replica, c uint64) *ORSet[string] {
		return &ORSet[string]{E: []ORSetEntry[string]{{Elem: elem, Dot: Dot{Replica: r, Counter: c}}}, VV: []Dot{{Replica: r, Counter: c}}}
	}
	for _, tc := range []struct {
		name   string
		other  *ORSet[string]
		origin Replica
		want   error
	}{
		{"own add", entry("z", rb, 2), rb, nil},
		{"foreign entry", entry("z", rb, 2), rc, ErrForeignWrite},
		// b removes a's "x": its context covers a:1, a dot of another
		// replica, which a removal legitimately carries.
		{"removal of another's element", &ORSet[string]{VV: []Dot{{Replica: ra, Counter: 1}, {Replica: rb, Counter: 2}}}, rb, nil},
		{"foreign context within step", &ORSet[string]{VV: []Dot{{Replica: ra, Counter: 101}}}, rb, nil},
		{"foreign context past step", &ORSet[string]{VV: []Dot{{Replica: ra, Counter: 102}}}, rb, ErrCountStep},
		{"own dot past step", entry("z", rb, 102), rb, ErrCountStep},
		{"dot over the ceiling", entry("z", rc, 1001), Replica{}, ErrCountCeiling},
		{"cloud over the ceiling", &ORSet[string]{Cloud: []Dot{{Replica: rc, Counter: math.MaxUint64}}}, Replica{}, ErrCountCeiling},
		{"third replica", entry("z", rc, 5), Replica{}, nil},
		{"fourth replica", &ORSet[string]{VV: []Dot{{Replica: rc, Counter: 1}, {Replica: Replica{"d", 1}, Counter: 1}}}, Replica{}, ErrTooManyReplicas},
		{"fourth replica in the cloud", &ORSet[string]{VV: []Dot{{Replica: rc, Counter: 1}}, Cloud: []Dot{{Replica: Replica{"d", 1}, Counter: 2}}}, Replica{}, ErrTooManyReplicas},
		// c in both the VV and the cloud is one replica: three in all.
		{"third replica, vv and cloud", &ORSet[string]{VV: []Dot{{Replica: rc, Counter: 1}}, Cloud: []Dot{{Replica: rc, Counter: 3}, {Replica: rc, Counter: 5}}}, Replica{}, nil},
	} {
		wantBound(t, tc.name, local.Check(tc.other, tc.origin, tight), tc.want)
	}

	future := tight
	future.MaxTime = t0.UnixNano()
	wantBound(t, "retirement mark in the future", local.Check(&ORSet[string]{Gone: []ContextRetirement{{Replica: rb, At: t0.UnixNano() + 1}}}, Replica{}, future), ErrFutureTime)
	wantBound(t, "retirement mark now", local.Check(&ORSet[string]{Gone: []ContextRetirement{{Replica: rb, At: t0.UnixNano()}}}, Replica{}, future), nil)

	// A context at MaxUint64 for a: it removed a's "x", and a's adds were
	// impossible.
	healthy := local.Clone()
	local.Merge(t0, &ORSet[string]{VV: []Dot{{Replica: ra, Counter: math.MaxUint64}}})
	local.Add("w")
	if local.Contains("w") {
		t.Fatalf("the poisoned set took an add")
	}
	if n := local.Sanitize(tight); n == 0 {
		t.Fatalf("Sanitize dropped nothing")
	}
	if err := local.Clone().Validate(); err != nil {
		t.Fatalf("sanitized state is invalid: %v", err)
	}
	local.Add("w")
	local.Merge(t0, healthy) // a peer's state brings "x" back
	if !local.Contains("w") || !local.Contains("x") || !local.Contains("y") {
		t.Fatalf("after Sanitize: %v", local.Elements())
	}
}

// The defaults keep a sum of valid slots inside int64.
func TestDefaultBoundsCannotSaturate(t *testing.T) {
	b := DefaultBounds()
	if b.MaxCount > math.MaxInt64/uint64(b.MaxReplicas) {
		t.Fatalf("MaxCount %d × MaxReplicas %d overflows int64", b.MaxCount, b.MaxReplicas)
	}
	c := NewPNCounter(ra)
	for i := range b.MaxReplicas {
		c.Merge(t0, &PNCounter{P: *gc(Slot{Replica: Replica{"r", uint64(i + 1)}, N: b.MaxCount})})
	}
	c.Add(1)
	if want := int64(b.MaxCount)*int64(b.MaxReplicas) + 1; c.Value() != want {
		t.Fatalf("Value = %d, want %d", c.Value(), want)
	}
}

// Check of a 100-slot state against a 100-slot counter: what swarm adds
// to every merge of a full state.
func BenchmarkGCounterCheck100(b *testing.B) {
	x, y := &GCounter{}, &GCounter{}
	for i := range 100 {
		r := Replica{Node: fmt.Sprintf("node-%03d", i), Incarnation: uint64(i)}
		x.S = append(x.S, Slot{Replica: r, N: uint64(i + 1)})
		y.S = append(y.S, Slot{Replica: r, N: uint64(i + 2)})
	}
	bounds := DefaultBounds()
	b.ReportAllocs()
	for b.Loop() {
		if err := x.Check(y, Replica{}, bounds); err != nil {
			b.Fatal(err)
		}
	}
}

// Check of a one-slot delta against a 1,000-slot counter, from the
// replica that sorts last: what swarm adds to every gossiped delta.
func BenchmarkGCounterCheckDelta(b *testing.B) {
	last := Replica{"zz", 1}
	x := NewGCounter(last)
	for i := range 1000 {
		x.Merge(t0, gc(Slot{Replica: Replica{Node: fmt.Sprintf("node-%04d", i), Incarnation: 1}, N: 5}))
	}
	x.Add(5)
	d := gc(Slot{Replica: last, N: 6})
	bounds := DefaultBounds()
	b.ReportAllocs()
	for b.Loop() {
		if err := x.Check(d, last, bounds); err != nil {
			b.Fatal(err)
		}
	}
}

// Merge of a one-slot delta into a 1,000-slot counter, from the replica
// that sorts last: the other half of what a gossiped delta costs.
func BenchmarkGCounterMergeDelta(b *testing.B) {
	last := Replica{"zz", 1}
	x := NewGCounter(Replica{"a", 1})
	for i := range 1000 {
		x.Merge(t0, gc(Slot{Replica: Replica{Node: fmt.Sprintf("node-%04d", i), Incarnation: 1}, N: 5}))
	}
	x.Merge(t0, gc(Slot{Replica: last, N: 1}))
	d := gc(Slot{Replica: last, N: 1})
	b.ReportAllocs()
	for b.Loop() {
		d.S[0].N++
		if _, changed := x.Merge(t0, d); !changed {
			b.Fatal("no change")
		}
	}
}

// A one-slot delta into a large counter takes the binary-search path of
// Merge and Check (the law tests' few replicas never do): every position,
// held or new, lands in the right slot.
func TestGCounterDeltaIntoManySlots(t *testing.T) {
	base := NewGCounter(Replica{"m", 1})
	for i := 0; i < 100; i += 2 {
		base.Merge(t0, gc(Slot{Replica: Replica{Node: fmt.Sprintf("n%03d", i), Incarnation: 1}, N: 10}))
	}
	base.Add(1)
	for i := -1; i <= 100; i++ {
		r := Replica{Node: fmt.Sprintf("n%03d", i), Incarnation: 1}
		if i < 0 {
			r = Replica{Node: "a", Incarnation: 1} // before every slot
		}
		x := base.Clone()
		x.loc = &local{self: base.owner()}
		x.Validate()
		before := x.Get(r)
		d := gc(Slot{Replica: r, N: before + 5})
		if err := x.Check(d, r, tight); err != nil && before > 0 {
			t.Fatalf("%s: Check = %v", r, err)
		}
		if _, changed := x.Merge(t0, d); !changed {
			t.Fatalf("%s: no change", r)
		}
		if err := x.Clone().Validate(); err != nil {
			t.Fatalf("%s: merged state invalid: %v", r, err)
		}
		if x.Get(r) != before+5 || x.Value() != base.Value()+5 {
			t.Fatalf("%s: slot %d (want %d), value %d (want %d)", r, x.Get(r), before+5, x.Value(), base.Value()+5)
		}
		x.Add(1)
		if x.Get(Replica{"m", 1}) != 2 {
			t.Fatalf("%s: own slot lost after the merge", r)
		}
	}
}

// Merge of a one-slot increment into a PN counter: what every delta a
// node receives for a counter costs (a burst merges thousands).
func BenchmarkPNCounterMergeDelta(b *testing.B) {
	x := NewPNCounter(Replica{"a", 1})
	d := NewPNCounter(Replica{"b", 1})
	d.Add(1)
	x.Merge(t0, d)
	b.ReportAllocs()
	for b.Loop() {
		d.P.S[0].N++
		if _, changed := x.Merge(t0, d); !changed {
			b.Fatal("no change")
		}
	}
}
