package crdt

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestGCounterLaws(t *testing.T) {
	checkLaws(t, lawCase[*GCounter]{
		step: time.Millisecond,
		start: func() (func(Replica) *GCounter, func(*rapid.T, *GCounter, Replica, time.Time), func(*rapid.T, *GCounter, time.Time)) {
			ref := map[Replica]uint64{} // the naive model: per replica sum
			op := func(rt *rapid.T, c *GCounter, r Replica, _ time.Time) {
				n := rapid.Uint64Range(0, 1000).Draw(rt, "n")
				c.Add(n)
				ref[r] += n
			}
			check := func(rt *rapid.T, c *GCounter, _ time.Time) {
				var sum uint64
				for r, n := range ref {
					sum += n
					if got := c.Get(r); got != n {
						rt.Fatalf("Get(%s) = %d, want %d", r, got, n)
					}
				}
				if c.Value() != sum {
					rt.Fatalf("Value() = %d, want %d", c.Value(), sum)
				}
			}
			return NewGCounter, op, check
		},
	})
}

func TestGCounterAdd(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	c := NewGCounter(b)
	c.Add(0)
	if _, ok := c.Delta(); ok {
		t.Fatalf("Add(0) produced a delta")
	}
	c.Add(3)
	c.Add(4)
	other := NewGCounter(a)
	other.Add(10)
	c.Merge(t0, other)
	c.Add(1) // own index moved by the merge
	if got, want := c.Value(), uint64(18); got != want {
		t.Fatalf("Value = %d, want %d", got, want)
	}
	if got := c.Get(b); got != 8 {
		t.Fatalf("Get(b) = %d, want 8", got)
	}
	slots := c.Slots()
	if len(slots) != 2 || slots[0].Replica != a || slots[1].Replica != b {
		t.Fatalf("Slots = %v, want a then b", slots)
	}
	slots[0].N = 99 // a copy: must not change c
	if c.Get(a) != 10 {
		t.Fatalf("Slots returned a shared slice")
	}
	d, ok := c.Delta()
	if !ok || len(d.S) != 1 || d.S[0].Replica != b || d.S[0].N != 8 {
		t.Fatalf("Delta = %v, %v; want only own slot b=8", d, ok)
	}
}

func TestGCounterSaturates(t *testing.T) {
	c := NewGCounter(Replica{"a", 1})
	c.Add(math.MaxUint64 - 1)
	c.Add(5)
	if c.Value() != math.MaxUint64 {
		t.Fatalf("Value = %d, want saturation at MaxUint64", c.Value())
	}
	o := NewGCounter(Replica{"b", 1})
	o.Add(7)
	c.Merge(t0, o)
	if c.Value() != math.MaxUint64 {
		t.Fatalf("sum did not saturate: %d", c.Value())
	}
}

func TestGCounterZeroValue(t *testing.T) {
	var c GCounter
	c.Add(5)
	if c.Value() != 0 || len(c.S) != 0 {
		t.Fatalf("Add on the zero value changed it: %v", c.S)
	}
	if _, ok := c.Delta(); ok {
		t.Fatalf("zero value has a delta")
	}
}

func TestGCounterValidate(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	for _, tc := range []struct {
		name string
		s    []Slot
		ok   bool
	}{
		{"empty", nil, true},
		{"sorted", []Slot{{Replica: a, N: 1}, {Replica: b, N: 2}}, true},
		{"unsorted", []Slot{{Replica: b, N: 1}, {Replica: a, N: 2}}, false},
		{"duplicate", []Slot{{Replica: a, N: 1}, {Replica: a, N: 2}}, false},
		{"zero replica", []Slot{{N: 1}}, false},
		{"zero count", []Slot{{Replica: a}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&GCounter{S: tc.s}).Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidState) {
				t.Fatalf("Validate = %v, want ErrInvalidState", err)
			}
		})
	}
}

func genReplica() *rapid.Generator[Replica] {
	return rapid.Custom(func(t *rapid.T) Replica {
		return Replica{
			Node:        rapid.SampledFrom([]string{"", "a", "b", "c"}).Draw(t, "node"),
			Incarnation: rapid.Uint64Range(0, 3).Draw(t, "inc"),
		}
	})
}

func TestGCounterGarbage(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		g := func() *GCounter {
			return &GCounter{S: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Slot {
				return Slot{Replica: genReplica().Draw(t, "r"), N: rapid.Uint64Range(0, 3).Draw(t, "n")}
			}), 0, 6).Draw(rt, "slots")}
		}
		x, y := g(), g()
		local := NewGCounter(Replica{"a", 1})
		local.Add(1)
		if x.Validate() == nil {
			local.Merge(t0, x)
			local.Add(1)
			if y.Validate() == nil {
				x.Merge(t0, y)
			}
		}
		if err := local.Validate(); err != nil {
			rt.Fatalf("merging a valid state broke the invariants: %v", err)
		}
	})
}

func TestPNCounterLaws(t *testing.T) {
	checkLaws(t, lawCase[*PNCounter]{
		step: time.Millisecond,
		start: func() (func(Replica) *PNCounter, func(*rapid.T, *PNCounter, Replica, time.Time), func(*rapid.T, *PNCounter, time.Time)) {
			var sum int64
			op := func(rt *rapid.T, c *PNCounter, _ Replica, _ time.Time) {
				n := rapid.Int64Range(-1000, 1000).Draw(rt, "n")
				c.Add(n)
				sum += n
			}
			check := func(rt *rapid.T, c *PNCounter, _ time.Time) {
				if c.Value() != sum {
					rt.Fatalf("Value() = %d, want %d", c.Value(), sum)
				}
			}
			return NewPNCounter, op, check
		},
	})
}

func TestPNCounterExtremes(t *testing.T) {
	c := NewPNCounter(Replica{"a", 1})
	c.Add(math.MinInt64)
	if c.Value() != math.MinInt64 {
		t.Fatalf("Value = %d, want MinInt64", c.Value())
	}
	c.Add(math.MinInt64)
	if c.Value() != math.MinInt64 {
		t.Fatalf("Value = %d, want clamped MinInt64", c.Value())
	}
	d := NewPNCounter(Replica{"b", 1})
	d.Add(math.MaxInt64)
	d.Add(math.MaxInt64)
	if d.Value() != math.MaxInt64 {
		t.Fatalf("Value = %d, want clamped MaxInt64", d.Value())
	}
	d.Add(-5)
	if d.Value() != math.MaxInt64 {
		t.Fatalf("Value = %d, want MaxInt64 (2·MaxInt64−5 clamps)", d.Value())
	}
}

func TestPNCounterValidate(t *testing.T) {
	bad := &PNCounter{N: GCounter{S: []Slot{{N: 1}}}}
	if err := bad.Validate(); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("Validate = %v, want ErrInvalidState", err)
	}
}

func BenchmarkGCounterAdd(b *testing.B) {
	c := NewGCounter(Replica{"a", 1})
	c.Add(1)
	b.ReportAllocs()
	for b.Loop() {
		c.Add(1)
	}
}

func BenchmarkGCounterMerge100(b *testing.B) {
	x, y := &GCounter{}, &GCounter{}
	for i := range 100 {
		r := Replica{Node: fmt.Sprintf("node-%03d", i), Incarnation: uint64(i)}
		x.S = append(x.S, Slot{Replica: r, N: uint64(i + 1)})
		y.S = append(y.S, Slot{Replica: r, N: uint64(i + 2)})
	}
	if err := x.Validate(); err != nil {
		b.Fatal(err)
	}
	if err := y.Validate(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		// Every merge raises all 100 slots: the worst case for one merge.
		for i := range y.S {
			y.S[i].N += 2
		}
		if _, changed := x.Merge(t0, y); !changed {
			b.Fatal("merge changed nothing")
		}
	}
}

func TestPNCounterGarbage(t *testing.T) {
	genSlots := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Slot {
		return Slot{Replica: genReplica().Draw(t, "r"), N: rapid.SampledFrom([]uint64{0, 1, math.MaxUint64}).Draw(t, "n")}
	}), 0, 4)
	rapid.Check(t, func(rt *rapid.T) {
		x := &PNCounter{P: GCounter{S: genSlots.Draw(rt, "P")}, N: GCounter{S: genSlots.Draw(rt, "N")}}
		local := NewPNCounter(Replica{"a", 1})
		local.Add(-1)
		if x.Validate() == nil {
			local.Merge(t0, x)
			local.Add(math.MaxInt64)
			local.Value()
		}
		if err := local.Validate(); err != nil {
			rt.Fatalf("Validate after merge: %v", err)
		}
	})
}
