package crdt

import (
	"testing"
	"time"
)

// decodeMerge decodes data into the local value's Empty, and merges it if
// it validates; it must never panic, whatever data holds.
func decodeMerge[T Value[T]](t *testing.T, local T, data []byte, now time.Time) {
	x := local.Empty()
	if testDec.Unmarshal(data, x) != nil || x.Validate() != nil {
		return
	}
	local.Merge(now, x)
	if err := local.Clone().Validate(); err != nil {
		t.Fatalf("merging a valid state gave an invalid one: %v", err)
	}
}

// FuzzDecodeMerge feeds arbitrary bytes, as they might arrive from the
// network, to every type. Run with go test -fuzz FuzzDecodeMerge ./crdt.
func FuzzDecodeMerge(f *testing.F) {
	a := Replica{"a", 1}
	b := Replica{"b", 2}
	seed := func(x any) {
		data, err := testEnc.Marshal(x)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	g := NewGCounter(b)
	g.Add(3)
	seed(g)
	p := NewPNCounter(b)
	p.Add(-3)
	seed(p)
	r := NewLWWRegister[string](b, LWWOptions{})
	r.SetAt(base, "v")
	seed(r)
	m := NewLWWMap[string, int](b, LWWOptions{})
	m.SetAt(base, "k", 1)
	m.DeleteAt(base, "j")
	seed(m)
	s := NewORSet[string](b)
	s.Add("x")
	s.Add("y")
	s.Remove("x")
	seed(s)
	w, _ := NewWindowCounter(b, 10*time.Second, 5)
	w.AddAt(base, 2)
	w.AddAt(base.Add(3*time.Second), 2)
	seed(w)

	f.Fuzz(func(t *testing.T, data []byte) {
		now := base.Add(4 * time.Second)
		lg := NewGCounter(a)
		lg.Add(1)
		decodeMerge(t, lg, data, now)
		lp := NewPNCounter(a)
		lp.Add(-1)
		decodeMerge(t, lp, data, now)
		lr := NewLWWRegister[string](a, LWWOptions{})
		lr.SetAt(base, "w")
		decodeMerge(t, lr, data, now)
		lm := NewLWWMap[string, int](a, LWWOptions{})
		lm.SetAt(base, "k", 2)
		decodeMerge(t, lm, data, now)
		ls := NewORSet[string](a)
		ls.Add("y")
		decodeMerge(t, ls, data, now)
		lw, _ := NewWindowCounter(a, 10*time.Second, 5)
		lw.AddAt(base, 1)
		decodeMerge(t, lw, data, now)
		lw.ValueAt(now)
		lw.Contributions(now)
	})
}
