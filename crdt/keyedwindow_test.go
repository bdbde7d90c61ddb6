package crdt

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func mustKeyed(t testing.TB, r Replica, window time.Duration, buckets int) *KeyedWindow {
	t.Helper()
	k, err := NewKeyedWindow(r, window, buckets)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// kcanon is the canonical encoding of a keyed window's observable state:
// a local state keeps its keys in a map, so compare its Clone.
func kcanon(t interface{ Fatalf(string, ...any) }, k *KeyedWindow) []byte {
	return canon(t, k.Clone())
}

func kmerged(now time.Time, xs ...*KeyedWindow) *KeyedWindow {
	acc := xs[0].Clone()
	for _, x := range xs[1:] {
		acc.Merge(now, x)
	}
	return acc
}

// TestKeyedWindowLaws is checkLaws for a type whose local state is not
// its wire form: replicas count random keys, exchange full states and
// deltas; the final states merge commutatively, associatively and
// idempotently, deltas add up to the states, and everyone converges.
func TestKeyedWindowLaws(t *testing.T) {
	const window, buckets = 10 * time.Millisecond, 5
	keys := []string{"k1", "k2", "k3"}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, len(lawReplicas)).Draw(rt, "replicas")
		xs := make([]*KeyedWindow, n)
		for i := range xs {
			xs[i] = mustKeyed(t, lawReplicas[i], window, buckets)
		}
		var deltas []*KeyedWindow
		now := t0
		for range rapid.IntRange(0, 40).Draw(rt, "steps") {
			now = now.Add(time.Duration(rapid.Int64Range(0, int64(3*time.Millisecond)).Draw(rt, "dt")))
			i := rapid.IntRange(0, n-1).Draw(rt, "i")
			switch rapid.IntRange(0, 4).Draw(rt, "kind") {
			case 0, 1:
				key := rapid.SampledFrom(keys).Draw(rt, "key")
				xs[i].AddAt(now, key, rapid.Uint64Range(0, 5).Draw(rt, "n"))
			case 2:
				j := rapid.IntRange(0, n-1).Draw(rt, "from")
				xs[i].Merge(now, xs[j].Clone())
			case 3, 4:
				if d, ok := xs[i].Delta(); ok {
					d = roundTrip(rt, d)
					deltas = append(deltas, d)
					acc := roundTrip(rt, d.Clone())
					acc.Merge(now, d) // a wire state accumulates like the outbox does
					if !bytes.Equal(canon(rt, acc), canon(rt, d)) {
						rt.Fatalf("a wire state merged with itself changed")
					}
					xs[rapid.IntRange(0, n-1).Draw(rt, "to")].Merge(now, d)
				}
			}
		}
		for i := range xs {
			if d, ok := xs[i].Delta(); ok {
				deltas = append(deltas, roundTrip(rt, d))
			}
			if _, ok := xs[i].Delta(); ok {
				rt.Fatalf("a second Delta in a row reported changes")
			}
		}
		finals := make([]*KeyedWindow, n)
		for i := range xs {
			xs[i].Expire(now)
			finals[i] = roundTrip(rt, xs[i].Clone())
		}
		a := finals[rapid.IntRange(0, n-1).Draw(rt, "a")]
		b := finals[rapid.IntRange(0, n-1).Draw(rt, "b")]
		c := finals[rapid.IntRange(0, n-1).Draw(rt, "c")]
		if !bytes.Equal(canon(rt, kmerged(now, a, b)), canon(rt, kmerged(now, b, a))) {
			rt.Fatalf("not commutative")
		}
		if !bytes.Equal(canon(rt, kmerged(now, kmerged(now, a, b), c)), canon(rt, kmerged(now, a, kmerged(now, b, c)))) {
			rt.Fatalf("not associative")
		}
		aa := a.Clone()
		if _, changed := aa.Merge(now, a); changed || !bytes.Equal(canon(rt, aa), canon(rt, a)) {
			rt.Fatalf("not idempotent")
		}
		x := a.Clone()
		if eff, changed := x.Merge(now, b); changed {
			y := a.Clone()
			y.Merge(now, roundTrip(rt, eff))
			if !bytes.Equal(canon(rt, x), canon(rt, y)) {
				rt.Fatalf("effect differs from the full merge")
			}
		}
		all := kmerged(now, finals...)
		fromDeltas := a.Empty()
		for _, d := range rapid.Permutation(deltas).Draw(rt, "order") {
			fromDeltas.Merge(now, d)
		}
		if !bytes.Equal(canon(rt, fromDeltas), canon(rt, all)) {
			rt.Fatalf("deltas do not add up to the states:\ndeltas %x\nstates %x", canon(rt, fromDeltas), canon(rt, all))
		}
		for i := range xs {
			for j := range finals {
				xs[i].Merge(now, finals[j])
			}
			if !bytes.Equal(kcanon(rt, xs[i]), canon(rt, all)) {
				rt.Fatalf("replica %d did not converge", i)
			}
		}
	})
}

func TestKeyedWindowAddSlotsHeard(t *testing.T) {
	a := mustKeyed(t, Replica{"a", 1}, time.Second, 10)
	b := mustKeyed(t, Replica{"b", 1}, time.Second, 10)
	a.AddAt(t0, "x", 2)
	a.AddAt(t0.Add(150*time.Millisecond), "x", 3)
	a.AddAt(t0, "y", 1)
	if got := a.Slots("x"); len(got) != 1 || len(got[0].Buckets) != 2 || got[0].Buckets[1].N != 3 {
		t.Fatalf("slots of x: %+v", got)
	}
	if a.Unsent("x") != 5 || a.Unsent("nope") != 0 {
		t.Fatalf("Unsent(x) = %d", a.Unsent("x"))
	}
	d, ok := a.Delta()
	if a.Unsent("x") != 0 {
		t.Fatal("Delta did not reset Unsent")
	}
	if !ok || len(d.Keys) != 2 || d.Keys[0].Key != "x" || d.Keys[1].Key != "y" {
		t.Fatalf("delta: %+v %v", d, ok)
	}
	heardAt := t0.Add(time.Millisecond)
	if _, changed := b.Merge(heardAt, d); !changed {
		t.Fatal("merge of a delta changed nothing")
	}
	if h, ok := b.HeardAt(Replica{"a", 1}); !ok || !h.Equal(heardAt) {
		t.Fatalf("HeardAt = %v, %v", h, ok)
	}
	if b.HeardAtNanos(Replica{"z", 1}) != 0 {
		t.Fatal("an unknown replica was heard")
	}
	if b.Len() != 2 || b.Slots("nope") != nil {
		t.Fatalf("Len %d", b.Len())
	}
	// A local state merges like its Clone.
	c := mustKeyed(t, Replica{"c", 1}, time.Second, 10)
	if _, changed := c.Merge(heardAt, a); !changed || c.Len() != 2 {
		t.Fatalf("merging a local state: Len %d", c.Len())
	}
	// A second merge of the same delta is no news.
	if _, changed := b.Merge(heardAt.Add(time.Millisecond), d); changed {
		t.Fatal("duplicate delta changed the state")
	}
}

func TestKeyedWindowExpireEvict(t *testing.T) {
	k := mustKeyed(t, Replica{"a", 1}, time.Second, 10)
	k.AddAt(t0, "old", 1)
	k.AddAt(t0.Add(500*time.Millisecond), "mid", 1)
	k.AddAt(t0.Add(900*time.Millisecond), "new", 1)
	if got := k.Expire(t0.Add(1050 * time.Millisecond)); got != 0 {
		t.Fatalf("expired %d keys while the first bucket is still in the window", got)
	}
	if got := k.Expire(t0.Add(1100 * time.Millisecond)); got != 1 || k.Slots("old") != nil {
		t.Fatalf("expired %d keys, old is %v", got, k.Slots("old"))
	}
	if got := k.Evict(1); got != 1 || k.Slots("mid") != nil || k.Slots("new") == nil {
		t.Fatalf("Evict removed %d; mid %v new %v", got, k.Slots("mid"), k.Slots("new"))
	}
	if k.Evict(5) != 1 || k.Len() != 0 {
		t.Fatalf("Len %d after evicting everything", k.Len())
	}
	if _, ok := k.Delta(); ok {
		t.Fatal("delta of evicted keys")
	}
}

func TestKeyedWindowValidate(t *testing.T) {
	k := mustKeyed(t, Replica{"a", 1}, time.Second, 10)
	good := []Bucket{{Index: 5, N: 1}}
	for name, tc := range map[string]struct {
		st   *KeyedWindow
		want error
	}{
		"config":       {&KeyedWindow{WindowLen: 2 * time.Second, BucketCount: 10}, ErrConfigMismatch},
		"unsorted":     {&KeyedWindow{WindowLen: time.Second, BucketCount: 10, Keys: []KeySlots{{Key: "b", Slots: []WindowSlot{{Replica: Replica{"a", 1}, Buckets: good}}}, {Key: "a", Slots: []WindowSlot{{Replica: Replica{"a", 1}, Buckets: good}}}}}, ErrInvalidState},
		"no slots":     {&KeyedWindow{WindowLen: time.Second, BucketCount: 10, Keys: []KeySlots{{Key: "a"}}}, ErrInvalidState},
		"zero replica": {&KeyedWindow{WindowLen: time.Second, BucketCount: 10, Keys: []KeySlots{{Key: "a", Slots: []WindowSlot{{Buckets: good}}}}}, ErrInvalidState},
		"empty bucket": {&KeyedWindow{WindowLen: time.Second, BucketCount: 10, Keys: []KeySlots{{Key: "a", Slots: []WindowSlot{{Replica: Replica{"a", 1}, Buckets: []Bucket{{Index: 1}}}}}}}, ErrInvalidState},
		"too wide":     {&KeyedWindow{WindowLen: time.Second, BucketCount: 10, Keys: []KeySlots{{Key: "a", Slots: []WindowSlot{{Replica: Replica{"a", 1}, Buckets: []Bucket{{Index: 1, N: 1}, {Index: 20, N: 1}}}}}}}, ErrInvalidState},
	} {
		st := k.Empty()
		st.WindowLen, st.BucketCount, st.Keys = tc.st.WindowLen, tc.st.BucketCount, tc.st.Keys
		if err := st.Validate(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Validate = %v, want %v", name, err, tc.want)
		}
	}
	if _, err := NewKeyedWindow(Replica{"a", 1}, 0, 1); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewKeyedWindow(window 0) = %v", err)
	}
}

// BenchmarkKeyedWindowAdd counts into one of 100,000 keys.
func BenchmarkKeyedWindowAdd(b *testing.B) {
	k := mustKeyed(b, Replica{"a", 1}, time.Minute, 20)
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = "client-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)) + string(rune('a'+i/17576%26))
		k.AddAt(t0, keys[i], 1)
	}
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		k.AddAt(now, keys[i%len(keys)], 1)
		i++
		if i%1024 == 0 {
			b.StopTimer() // one Delta per flush, not per event
			k.Delta()
			b.StartTimer()
		}
	}
}
