package crdt

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// wireForm is what a state encodes as: a local state's wire form is its
// Clone (its entries live in a tree, outside E).
func (m *LWWMap[K, V]) wireForm() any {
	if m.tree == nil {
		return m
	}
	return m.Clone()
}

func TestLWWMapLaws(t *testing.T) {
	checkLaws(t, lawCase[*LWWMap[string, int]]{
		step: 3 * time.Nanosecond,
		start: func() (func(Replica) *LWWMap[string, int], func(*rapid.T, *LWWMap[string, int], Replica, time.Time), func(*rapid.T, *LWWMap[string, int], time.Time)) {
			type write struct {
				ts      Timestamp
				v       int
				deleted bool
			}
			ref := map[string]write{} // the naive model: the latest write per key
			newLocal := func(r Replica) *LWWMap[string, int] { return NewLWWMap[string, int](r, LWWOptions{}) }
			op := func(rt *rapid.T, m *LWWMap[string, int], r Replica, now time.Time) {
				k := rapid.SampledFrom([]string{"k1", "k2", "k3", "k4"}).Draw(rt, "k")
				w := write{deleted: rapid.IntRange(0, 3).Draw(rt, "op") == 0}
				if w.deleted {
					m.DeleteAt(now, k)
					if _, ok := m.Get(k); ok {
						rt.Fatalf("Get(%s) after DeleteAt found it", k)
					}
				} else {
					w.v = rapid.IntRange(0, 9).Draw(rt, "v")
					m.SetAt(now, k, w.v)
					if got, ok := m.Get(k); !ok || got != w.v {
						rt.Fatalf("Get(%s) after SetAt = %d, %v", k, got, ok)
					}
				}
				it, _ := m.get(k)
				w.ts = it.TS
				if w.ts.After(ref[k].ts) {
					ref[k] = w
				}
			}
			check := func(rt *rapid.T, m *LWWMap[string, int], _ time.Time) {
				var keys []string
				for k, w := range ref {
					v, ok := m.Get(k)
					if ok == w.deleted || v != w.v {
						rt.Fatalf("Get(%s) = %d, %v; want %+v", k, v, ok, w)
					}
					if !w.deleted {
						keys = append(keys, k)
					}
				}
				slices.Sort(keys)
				if got := m.Keys(); !slices.Equal(got, keys) || m.Len() != len(keys) {
					rt.Fatalf("Keys = %v, Len = %d; want %v", got, m.Len(), keys)
				}
				var ranged []string
				m.Range(func(k string, v int, ts Timestamp) bool {
					if ref[k].v != v || ref[k].ts != ts {
						rt.Fatalf("Range(%s) = %d, %s; want %+v", k, v, ts, ref[k])
					}
					ranged = append(ranged, k)
					return true
				})
				if !slices.Equal(ranged, keys) {
					rt.Fatalf("Range visited %v, want %v", ranged, keys)
				}
			}
			return newLocal, op, check
		},
	})
}

func TestLWWMapTombstones(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	m := NewLWWMap[string, string](a, LWWOptions{TombstoneTTL: time.Minute})
	m.SetAt(t0, "x", "1")
	m.SetAt(t0, "y", "2")
	m.DeleteAt(t2, "x")

	// A write older than the delete, arriving late, stays deleted.
	late := NewLWWMap[string, string](b, LWWOptions{})
	late.SetAt(t1, "x", "late")
	if _, changed := m.Merge(t2, late); changed {
		t.Fatalf("an older write beat the tombstone")
	}
	if _, ok := m.Get("x"); ok || m.Len() != 1 || !slices.Equal(m.Keys(), []string{"y"}) {
		t.Fatalf("x is back: Len %d Keys %v", m.Len(), m.Keys())
	}

	// Before the TTL the tombstone stays; after it, it goes, and the
	// late write can resurrect the key: the documented trade-off.
	if n := m.ExpireAt(t2.Add(time.Minute)); n != 0 {
		t.Fatalf("ExpireAt before the TTL dropped %d", n)
	}
	if n := m.ExpireAt(t2.Add(time.Minute + 1)); n != 1 {
		t.Fatalf("ExpireAt after the TTL dropped %d, want 1", n)
	}
	if _, changed := m.Merge(t2, late); !changed {
		t.Fatalf("with the tombstone gone the late write must come back")
	}
	if v, ok := m.Get("x"); !ok || v != "late" {
		t.Fatalf("Get(x) = %q, %v", v, ok)
	}

	// Deleting a key never seen still records the tombstone.
	m.DeleteAt(t2, "z")
	early := NewLWWMap[string, string](b, LWWOptions{})
	early.SetAt(t1, "z", "early")
	m.Merge(t2, early)
	if _, ok := m.Get("z"); ok {
		t.Fatalf("a delete of an unseen key lost to an older write")
	}
}

func TestLWWMapPurge(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	m := NewLWWMap[string, int](a, LWWOptions{})
	peer := NewLWWMap[string, int](b, LWWOptions{})
	peer.SetAt(t0, "node-b", 7)
	m.Merge(t0, peer.Clone())
	if !m.Purge("node-b") || m.Len() != 0 {
		t.Fatalf("Purge did not remove the key")
	}
	if m.Purge("node-b") {
		t.Fatalf("second Purge reported a removal")
	}
	if _, ok := m.Delta(); ok {
		t.Fatalf("Purge is local only; it must not produce a delta")
	}
	// Local only: the peer still has it and a merge brings it back.
	m.Merge(t0, peer.Clone())
	if v, ok := m.Get("node-b"); !ok || v != 7 {
		t.Fatalf("merge after Purge: %d, %v", v, ok)
	}
}

func TestLWWMapDeltaSkipsOverwritten(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	m := NewLWWMap[string, int](a, LWWOptions{})
	m.SetAt(t0, "k", 1)
	m.SetAt(t0, "j", 1)
	m.SetAt(t0, "k", 2)
	peer := NewLWWMap[string, int](b, LWWOptions{})
	peer.SetAt(t0.Add(time.Second), "j", 9)
	m.Merge(t0, peer)
	d, ok := m.Delta()
	if !ok || len(d.E) != 1 || d.E[0].Key != "k" || d.E[0].Value != 2 {
		t.Fatalf("Delta = %+v, want only k=2", d)
	}
}

func TestLWWMapSkew(t *testing.T) {
	m := NewLWWMap[string, int](Replica{"a", 1}, LWWOptions{MaxSkew: time.Second})
	m.SetAt(t0, "k", 0)
	far := NewLWWMap[string, int](Replica{"b", 1}, LWWOptions{})
	far.SetAt(t0.Add(time.Hour), "k", 1)
	far.SetAt(t0, "j", 1) // b's clock is now an hour ahead: j is skewed too
	far.SetAt(t0, "near", 1)
	far.E = nil
	wire := far.Clone()
	wire.E[2].TS = Timestamp{Wall: t0.UnixNano(), Replica: Replica{"b", 1}} // "near" is in time
	if _, changed := m.Merge(t0, wire); !changed {
		t.Fatalf("the entry within the cap must be taken")
	}
	if m.SkewRejections() != 2 {
		t.Fatalf("SkewRejections = %d, want 2", m.SkewRejections())
	}
	if v, _ := m.Get("k"); v != 0 {
		t.Fatalf("a skewed entry was stored: k = %d", v)
	}
	if _, ok := m.Get("j"); ok || m.Len() != 2 {
		t.Fatalf("a skewed entry was stored: j present, Len %d", m.Len())
	}
	m.SetAt(t0, "k", 2)
	if v, _ := m.Get("k"); v != 2 {
		t.Fatalf("a local write after a skewed one must win, got %d", v)
	}
}

// An entry stamped at the end of time must never own its key: on today's
// main Merge stored it, and later Set and Delete calls, even on the
// writer, returned nil and were reverted.
func TestLWWMapEndOfTimeRefused(t *testing.T) {
	for _, wireReceiver := range []bool{false, true} {
		m := NewLWWMap[string, int](Replica{"a", 1}, LWWOptions{})
		if wireReceiver {
			m = m.Empty()
		}
		evil := &LWWMap[string, int]{E: []LWWEntry[string, int]{
			{Key: "k", Value: 666, TS: Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32, Replica: Replica{"evil", 1}}},
		}}
		if err := evil.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if _, changed := m.Merge(t0, evil); changed {
			t.Fatalf("wire=%v: an end-of-time entry was taken", wireReceiver)
		}
		if _, ok := m.Get("k"); ok || m.SkewRejections() != 1 {
			t.Fatalf("wire=%v: k stored or not counted (%d)", wireReceiver, m.SkewRejections())
		}
		if wireReceiver {
			continue
		}
		m.SetAt(t0, "k", 1)
		m.DeleteAt(t0.Add(time.Second), "k")
		if _, ok := m.Get("k"); ok {
			t.Fatalf("a local delete did not take")
		}
	}
}

func TestLWWMapValidate(t *testing.T) {
	w := Timestamp{Wall: 1, Replica: Replica{"a", 1}}
	for _, tc := range []struct {
		name string
		e    []LWWEntry[string, int]
	}{
		{"unsorted", []LWWEntry[string, int]{{Key: "b", TS: w}, {Key: "a", TS: w}}},
		{"duplicate", []LWWEntry[string, int]{{Key: "a", TS: w}, {Key: "a", TS: w}}},
		{"no writer", []LWWEntry[string, int]{{Key: "a"}}},
	} {
		if err := (&LWWMap[string, int]{E: tc.e}).Validate(); !errors.Is(err, ErrInvalidState) {
			t.Errorf("%s: Validate = %v, want ErrInvalidState", tc.name, err)
		}
	}
	ok := &LWWMap[string, int]{E: []LWWEntry[string, int]{{Key: "a", TS: w}, {Key: "b", TS: w, Deleted: true}}}
	if err := ok.Validate(); err != nil || ok.Len() != 1 {
		t.Fatalf("Validate = %v, Len = %d", err, ok.Len())
	}
}

func TestLWWMapGarbage(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		gen := func(name string) *LWWMap[float64, int] {
			return &LWWMap[float64, int]{E: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) LWWEntry[float64, int] {
				return LWWEntry[float64, int]{
					Key:     rapid.SampledFrom([]float64{0, 1, -1, 2}).Draw(t, "k"),
					Value:   rapid.IntRange(0, 3).Draw(t, "v"),
					TS:      Timestamp{Wall: rapid.Int64Range(-2, 2).Draw(t, "w"), Logical: rapid.Uint32Range(0, 2).Draw(t, "l"), Replica: genReplica().Draw(t, "r")},
					Deleted: rapid.Bool().Draw(t, "del"),
				}
			}), 0, 6).Draw(rt, name)}
		}
		x, y := gen("x"), gen("y")
		local := NewLWWMap[float64, int](Replica{"a", 1}, LWWOptions{})
		local.SetAt(t0, 1, 1)
		if x.Validate() == nil {
			local.Merge(t0, x)
			local.SetAt(t0, 2, 2)
			local.DeleteAt(t0, 0)
			local.ExpireAt(t0.Add(2 * time.Hour))
			if y.Validate() == nil {
				x.Merge(t0, y)
			}
		}
		live := local.Len()
		if err := local.Validate(); err != nil || local.Len() != live {
			rt.Fatalf("merging a valid state broke the invariants: %v (len %d, recount %d)", err, live, local.Len())
		}
	})
}

func BenchmarkLWWMapSetAt(b *testing.B) {
	m := NewLWWMap[string, int](Replica{"a", 1}, LWWOptions{})
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "key-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		m.SetAt(t0, keys[i], i)
	}
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		m.SetAt(now, keys[i%len(keys)], i)
		i++
		if i%1000 == 0 {
			m.Delta() // keep the dirty list bounded, as the gossip loop does
		}
	}
}

func TestLWWMapDirtyBounded(t *testing.T) {
	m := NewLWWMap[string, int](Replica{"a", 1}, LWWOptions{})
	now := t0
	for i := range 10000 {
		now = now.Add(time.Millisecond)
		m.SetAt(now, []string{"x", "y", "z"}[i%3], i)
	}
	if len(m.dirty) > 2*len(m.E)+64 {
		t.Fatalf("dirty list grew to %d for %d keys", len(m.dirty), len(m.E))
	}
	d, ok := m.Delta()
	if !ok || len(d.E) != 3 {
		t.Fatalf("Delta = %+v, want the 3 keys", d)
	}
}
