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

	// A replica whose clock is a day ahead writes.
	far := NewLWWRegister[string](skewed, LWWOptions{})
	far.SetAt(t0.Add(24*time.Hour), "theirs")
	eff, changed := r.Merge(t1, far)
	if !changed || eff.V != "theirs" {
		t.Fatalf("Merge = %v, %v; the remote value must be taken so replicas converge", eff, changed)
	}
	if v, _, _ := r.Get(); v != "theirs" {
		t.Fatalf("Get = %q, want theirs", v)
	}
	if r.SkewRejections() != 1 {
		t.Fatalf("SkewRejections = %d, want 1", r.SkewRejections())
	}
	if _, ok := r.Delta(); ok {
		t.Fatalf("the local write lost; the delta must not carry the remote value")
	}

	// The next local write wins again, although the local clock never
	// followed the skewed one.
	r.SetAt(t1, "mine again")
	v, ts, _ := r.Get()
	if v != "mine again" || !ts.After(far.TS) || ts.Replica != local {
		t.Fatalf("Get = %q, %s; want the local write after %s", v, ts, far.TS)
	}
	if ts.Wall != far.TS.Wall {
		t.Fatalf("the write is ordered just after the skewed value: wall %d, want %d", ts.Wall, far.TS.Wall)
	}
	// Its clock did not move: a fresh timestamp is still near t1.
	if now := r.clock.Now(t1); now.Wall != t1.UnixNano() {
		t.Fatalf("clock moved to %s", now)
	}
	// And the skewed replica takes the local write.
	if _, changed := far.Merge(t1, r.Clone()); !changed || far.V != "mine again" {
		t.Fatalf("skewed replica did not take the later write: %q", far.V)
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
