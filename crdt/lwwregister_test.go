package crdt

import (
	"errors"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestLWWRegisterLaws(t *testing.T) {
	checkLaws(t, lawCase[*LWWRegister[string]]{
		step: 3 * time.Nanosecond, // small steps: many equal wall times, so logical ticks and replica tie-breaks matter
		start: func() (func(Replica) *LWWRegister[string], func(*rapid.T, *LWWRegister[string], Replica, time.Time), func(*rapid.T, *LWWRegister[string], time.Time)) {
			var last struct {
				ts Timestamp
				v  string
			}
			newLocal := func(r Replica) *LWWRegister[string] { return NewLWWRegister[string](r, LWWOptions{}) }
			op := func(rt *rapid.T, x *LWWRegister[string], r Replica, now time.Time) {
				// Some replicas run with a wall clock behind.
				if r.Node == "b" {
					now = now.Add(-time.Duration(rapid.IntRange(0, 5).Draw(rt, "lag")))
				}
				v := rapid.SampledFrom([]string{"x", "y", "z", ""}).Draw(rt, "v")
				before := x.TS
				x.SetAt(now, v)
				got, ts, ok := x.Get()
				if !ok || got != v || !ts.After(before) || ts.Replica != r {
					rt.Fatalf("after SetAt(%q): Get = %q, %s, %v (previous %s)", v, got, ts, ok, before)
				}
				if ts.After(last.ts) {
					last.ts, last.v = ts, v
				}
			}
			check := func(rt *rapid.T, x *LWWRegister[string], _ time.Time) {
				v, ts, ok := x.Get()
				if ok != !last.ts.IsZero() || ts != last.ts || v != last.v {
					rt.Fatalf("Get = %q, %s, %v; want the latest write %q, %s", v, ts, ok, last.v, last.ts)
				}
			}
			return newLocal, op, check
		},
	})
}

func TestLWWRegisterSkew(t *testing.T) {
	local, skewed := Replica{"local", 1}, Replica{"skewed", 1}
	t1 := t0.Add(time.Second)
	r := NewLWWRegister[string](local, LWWOptions{MaxSkew: 10 * time.Second})
	r.SetAt(t0, "mine")

	// A replica whose clock is a day ahead writes: refused, never stored.
	far := NewLWWRegister[string](skewed, LWWOptions{})
	far.SetAt(t0.Add(24*time.Hour), "theirs")
	if eff, changed := r.Merge(t1, far); changed || eff != nil {
		t.Fatalf("Merge = %v, %v; a write a day ahead must be refused", eff, changed)
	}
	if v, _, _ := r.Get(); v != "mine" {
		t.Fatalf("Get = %q, want mine", v)
	}
	if r.SkewRejections() != 1 {
		t.Fatalf("SkewRejections = %d, want 1", r.SkewRejections())
	}

	// Local writes keep working, and are not dragged a day ahead.
	r.SetAt(t1, "mine again")
	v, ts, _ := r.Get()
	if v != "mine again" || ts.Wall != t1.UnixNano() || ts.Replica != local {
		t.Fatalf("Get = %q, %s; want the local write at t1", v, ts)
	}

	// Within the cap, the remote write is taken; once the local clock has
	// caught up, so is the one that was refused (anti-entropy offers it
	// again), so replicas converge.
	near := NewLWWRegister[string](skewed, LWWOptions{})
	near.SetAt(t1.Add(5*time.Second), "near")
	if _, changed := r.Merge(t1, near); !changed {
		t.Fatalf("a write 5 s ahead (cap 10 s) must be taken")
	}
	if _, changed := r.Merge(t0.Add(24*time.Hour), far); !changed {
		t.Fatalf("the refused write must be taken once it is within the cap")
	}
}

// An entry stamped at the end of time must never own the register: today's
// main stored it, and every later write returned nil and was reverted.
func TestLWWRegisterEndOfTimeRefused(t *testing.T) {
	r := NewLWWRegister[int](Replica{"a", 1}, LWWOptions{})
	r.SetAt(t0, 1)
	evil := &LWWRegister[int]{V: 666, TS: Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32, Replica: Replica{"evil", 1}}}
	if err := evil.Validate(); err != nil {
		t.Fatalf("Validate: %v (the cap is enforced at merge)", err)
	}
	if _, changed := r.Merge(t0, evil); changed {
		t.Fatalf("an end-of-time write was taken")
	}
	r.SetAt(t0.Add(time.Second), 2)
	if v, _, _ := r.Get(); v != 2 {
		t.Fatalf("Get = %d after a local write, want 2", v)
	}
	if r.SkewRejections() != 1 {
		t.Fatalf("SkewRejections = %d, want 1", r.SkewRejections())
	}
}

func TestLWWRegisterTieBreak(t *testing.T) {
	a := NewLWWRegister[int](Replica{"a", 1}, LWWOptions{})
	b := NewLWWRegister[int](Replica{"b", 1}, LWWOptions{})
	a.SetAt(t0, 1)
	b.SetAt(t0, 2) // same wall time, same logical: the replica decides
	a.Merge(t0, b.Clone())
	b.Merge(t0, a.Clone())
	if a.V != 2 || b.V != 2 {
		t.Fatalf("a=%d b=%d, want both 2 (b > a)", a.V, b.V)
	}
}

func TestLWWRegisterValidate(t *testing.T) {
	bad := &LWWRegister[int]{V: 1, TS: Timestamp{Wall: 5}}
	if err := bad.Validate(); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("Validate = %v, want ErrInvalidState", err)
	}
	var empty LWWRegister[int]
	if err := empty.Validate(); err != nil {
		t.Fatalf("Validate(empty) = %v", err)
	}
	if _, _, ok := empty.Get(); ok {
		t.Fatalf("empty register reports a value")
	}
}

func TestLWWRegisterGarbage(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		gen := func(name string) *LWWRegister[int] {
			return &LWWRegister[int]{V: rapid.Int().Draw(rt, name+".V"), TS: Timestamp{
				Wall:    rapid.SampledFrom([]int64{math.MinInt64, -1, 0, 1, math.MaxInt64}).Draw(rt, name+".W"),
				Logical: rapid.SampledFrom([]uint32{0, 1, math.MaxUint32}).Draw(rt, name+".L"),
				Replica: genReplica().Draw(rt, name+".R"),
			}}
		}
		x := gen("x")
		local := NewLWWRegister[int](Replica{"a", 1}, LWWOptions{})
		local.SetAt(t0, 1)
		if x.Validate() == nil {
			local.Merge(t0, x)
			before := local.TS
			local.SetAt(t0, 2)
			if v, ts, _ := local.Get(); v != 2 || (!ts.After(before) && before.Wall != math.MaxInt64) {
				rt.Fatalf("local write after %s got %s", before, ts)
			}
		}
		if err := local.Validate(); err != nil {
			rt.Fatalf("Validate after merge: %v", err)
		}
	})
}
