package crdt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func mustKeyed(t testing.TB, r Replica, window time.Duration, ticks int) *KeyedWindow {
	t.Helper()
	k, err := NewKeyedWindow(r, window, ticks)
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
	const window, ticks = 10 * time.Millisecond, 5
	keys := []KeyHash{kh("k1"), kh("k2"), kh("k3")}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, len(lawReplicas)).Draw(rt, "replicas")
		xs := make([]*KeyedWindow, n)
		for i := range xs {
			xs[i] = mustKeyed(t, lawReplicas[i], window, ticks)
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
					// A delta's keys are unsorted, a merged wire state's
					// sorted: compare both as merged into an empty state.
					norm := func(x *KeyedWindow) *KeyedWindow {
						e := x.Empty()
						e.Merge(now, x)
						return e
					}
					if !bytes.Equal(canon(rt, norm(acc)), canon(rt, norm(d))) {
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
			xs[i].Expire(now, 1<<20)
			for _, key := range keys {
				var sum uint64
				for _, x := range xs[i].Events(key) {
					sum += uint64(x.N)
				}
				if got := xs[i].Total(key); got != sum {
					rt.Fatalf("replica %d: Total = %d, events add up to %d", i, got, sum)
				}
			}
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

// kh is a test key's hash: the key's bytes, zero-padded.
func kh(s string) KeyHash {
	var h KeyHash
	copy(h[:], s)
	return h
}

func TestKeyedWindowAddDeltaMerge(t *testing.T) {
	a := mustKeyed(t, Replica{"a", 1}, time.Second, 10)
	b := mustKeyed(t, Replica{"b", 1}, time.Second, 10)
	a.AddAt(t0, kh("x"), 2)
	a.AddAt(t0.Add(150*time.Millisecond), kh("x"), 3)
	a.AddAt(t0.Add(160*time.Millisecond), kh("x"), 1) // same 100 ms tick
	a.AddAt(t0, kh("y"), 1)
	got := a.Events(kh("x"))
	if len(got) != 2 || got[0].N != 2 || got[1].N != 4 || got[1].Tick != got[0].Tick+1 {
		t.Fatalf("events of x: %+v", got)
	}
	if a.Unsent(kh("x")) != 6 || a.Unsent(kh("nope")) != 0 {
		t.Fatalf("Unsent(x) = %d", a.Unsent(kh("x")))
	}
	d, ok := a.Delta()
	if !ok || a.Unsent(kh("x")) != 0 || d.Len() != 2 || len(d.Replicas) != 1 || d.Replicas[0] != (Replica{"a", 1}) {
		t.Fatalf("delta: %+v %v", d, ok)
	}
	if err := b.Check(d, Replica{"a", 1}, DefaultBounds()); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(d, Replica{"b", 1}, DefaultBounds()); !errors.Is(err, ErrForeignWrite) {
		t.Fatalf("Check from b = %v", err)
	}
	if _, again := a.Delta(); again {
		t.Fatal("a second Delta reported changes")
	}
	if _, changed := b.Merge(t0.Add(time.Millisecond), d); !changed {
		t.Fatal("merge of a delta changed nothing")
	}
	if b.Len() != 2 || b.Events(kh("nope")) != nil {
		t.Fatalf("Len %d", b.Len())
	}
	// b counts x in the same tick as a: both events are kept, a's and b's.
	b.AddAt(t0.Add(150*time.Millisecond), kh("x"), 1)
	ev := b.Events(kh("x"))
	if len(ev) != 3 || ev[1].Tick != ev[2].Tick || b.Replica(ev[1].Rep) != (Replica{"b", 1}) || b.Replica(ev[2].Rep) != (Replica{"a", 1}) {
		t.Fatalf("b's events of x: %+v", ev)
	}
	// b's delta carries only b's own event, although a's sits beside it.
	db, _ := b.Delta()
	if err := a.Check(db, Replica{"b", 1}, DefaultBounds()); err != nil || db.Len() != 1 {
		t.Fatalf("b's delta: %v, %d keys", err, db.Len())
	}
	// A second merge of the same delta is no news; a local state merges
	// like its Clone.
	if _, changed := b.Merge(t0.Add(2*time.Millisecond), d); changed {
		t.Fatal("duplicate delta changed the state")
	}
	c := mustKeyed(t, Replica{"c", 1}, time.Second, 10)
	if _, changed := c.Merge(t0, a); !changed || c.Len() != 2 {
		t.Fatalf("merging a local state: Len %d", c.Len())
	}
}

// Merge refuses events more than a window ahead and counts them; events
// that already left the window are ignored.
func TestKeyedWindowMergeBounds(t *testing.T) {
	a := mustKeyed(t, Replica{"a", 1}, time.Second, 10)
	b := mustKeyed(t, Replica{"b", 1}, time.Second, 10)
	a.AddAt(t0.Add(5*time.Second), kh("future"), 1)
	a.AddAt(t0.Add(-5*time.Second), kh("past"), 1)
	a.AddAt(t0, kh("now"), 1)
	d, _ := a.Delta()
	eff, changed := b.Merge(t0, d)
	if !changed || eff.Len() != 1 || b.Len() != 1 || b.Events(kh("now")) == nil {
		t.Fatalf("merge kept %d keys, effect %+v", b.Len(), eff)
	}
	if b.Rejected() != 1 {
		t.Fatalf("Rejected = %d, want 1 (the future event)", b.Rejected())
	}
}

// Check bounds counts, steps and replicas like the other types'.
func TestKeyedWindowCheckBounds(t *testing.T) {
	a := mustKeyed(t, Replica{"a", 1}, time.Second, 10)
	p := mustKeyed(t, Replica{"p", 1}, time.Second, 10)
	p.AddAt(t0, kh("x"), 50)
	d, _ := p.Delta()
	if err := a.Check(d, Replica{"p", 1}, Bounds{MaxCount: 40}); !errors.Is(err, ErrCountCeiling) {
		t.Fatalf("ceiling: %v", err)
	}
	if err := a.Check(d, Replica{"p", 1}, Bounds{MaxStep: 40}); !errors.Is(err, ErrCountStep) {
		t.Fatalf("step: %v", err)
	}
	if err := a.Check(d, Replica{}, Bounds{MaxStep: 40}); err != nil {
		t.Fatalf("a full state is exempt from the step: %v", err)
	}
	if err := a.Check(d, Replica{"p", 1}, Bounds{MaxReplicas: 1}); !errors.Is(err, ErrTooManyReplicas) {
		t.Fatalf("replicas: %v", err)
	}
	a.Merge(t0, d)
	p.AddAt(t0, kh("x"), 30) // 50 → 80 at the same tick: a step of 30
	d, _ = p.Delta()
	if err := a.Check(d, Replica{"p", 1}, Bounds{MaxStep: 40, MaxReplicas: 2}); err != nil {
		t.Fatalf("a step of 30 from a known replica: %v", err)
	}
	if n := a.Sanitize(Bounds{MaxCount: 60}); n != 0 {
		t.Fatalf("Sanitize dropped %d at 60", n)
	}
	a.Merge(t0, d)
	if n := a.Sanitize(Bounds{MaxCount: 60}); n != 1 || a.Len() != 0 {
		t.Fatalf("Sanitize dropped %d, %d keys left", n, a.Len())
	}
	if a.Sanitize(DefaultBounds()) != 0 {
		t.Fatal("nothing is above the default ceiling")
	}
}

// The replica table reuses the rows of replicas that no longer have
// events, so restarts do not grow it.
func TestKeyedWindowReplicaRowsReused(t *testing.T) {
	a := mustKeyed(t, Replica{"a", 1}, time.Second, 10)
	now := t0
	for inc := range uint64(50) {
		p := mustKeyed(t, Replica{"p", inc + 1}, time.Second, 10)
		p.AddAt(now, kh("x"), 1)
		d, _ := p.Delta()
		a.Merge(now, d)
		now = now.Add(2 * time.Second)
		a.Expire(now, 100)
	}
	if len(a.reps) > 3 {
		t.Fatalf("%d replica rows after 50 restarts, one at a time", len(a.reps))
	}
}

func TestKeyedWindowExpireIncremental(t *testing.T) {
	k := mustKeyed(t, Replica{"a", 1}, time.Second, 10)
	for i := range 1000 {
		k.AddAt(t0.Add(time.Duration(i%2)*500*time.Millisecond), kh("k"+strconv.Itoa(i)), 1)
	}
	k.Delta()
	// At t0+1.05 s the first tick (t0..t0+100 ms) is still in the window.
	if dropped, _ := k.Expire(t0.Add(1050*time.Millisecond), 5000); dropped != 0 {
		t.Fatalf("dropped %d keys still in the window", dropped)
	}
	// At t0+1.1 s the even keys have left: 100 keys per call.
	now, total, calls := t0.Add(1100*time.Millisecond), 0, 0
	for {
		dropped, wrapped := k.Expire(now, 100)
		total += dropped
		calls++
		if wrapped {
			break
		}
	}
	if total != 500 || k.Len() != 500 || calls < 5 {
		t.Fatalf("dropped %d in %d calls, %d left", total, calls, k.Len())
	}
	// Evict takes the least recently counted of the keys it looks at.
	k.AddAt(now, kh("k1"), 1)
	if n := k.Evict(10, 1000); n != 10 || k.Events(kh("k1")) == nil {
		t.Fatalf("Evict removed %d, k1 (just counted) %v", n, k.Events(kh("k1")))
	}
	if k.Evict(1000, 1000) != 490 || k.Len() != 0 {
		t.Fatalf("Len %d after evicting everything", k.Len())
	}
	if _, ok := k.Delta(); ok {
		t.Fatal("delta of evicted keys")
	}
}

// wireState builds a wire state by hand: events per key as (rep, dt, n).
func wireState(k *KeyedWindow, reps []Replica, hashes []KeyHash, events [][][3]uint64) *KeyedWindow {
	st := k.Empty()
	st.Replicas = reps
	st.Base = t0.UnixNano() / int64(100*time.Millisecond)
	for i, h := range hashes {
		st.Hashes = append(st.Hashes, h[:]...)
		st.Log = binary.AppendUvarint(st.Log, uint64(len(events[i])))
		for _, e := range events[i] {
			for _, v := range e {
				st.Log = binary.AppendUvarint(st.Log, v)
			}
		}
	}
	return st
}

func TestKeyedWindowValidate(t *testing.T) {
	k := mustKeyed(t, Replica{"a", 1}, time.Second, 10)
	ra, rb := Replica{"a", 1}, Replica{"b", 1}
	one := [][][3]uint64{{{0, 0, 1}}}
	if err := wireState(k, []Replica{ra}, []KeyHash{kh("x")}, one).Validate(); err != nil {
		t.Fatalf("a good state: %v", err)
	}
	many := make([]Replica, MaxKeyedReplicas+1)
	for i := range many {
		many[i] = Replica{"r", uint64(i + 1)}
	}
	for name, tc := range map[string]struct {
		st   *KeyedWindow
		want error
	}{
		"config":            {&KeyedWindow{WindowLen: 2 * time.Second, Ticks: 10}, ErrConfigMismatch},
		"zero replica":      {wireState(k, []Replica{{}}, []KeyHash{kh("x")}, one), ErrInvalidState},
		"replicas unsorted": {wireState(k, []Replica{rb, ra}, []KeyHash{kh("x")}, one), ErrInvalidState},
		"too many replicas": {wireState(k, many, []KeyHash{kh("x")}, one), ErrInvalidState},
		"no events":         {wireState(k, []Replica{ra}, []KeyHash{kh("x")}, [][][3]uint64{{}}), ErrInvalidState},
		"unknown replica":   {wireState(k, []Replica{ra}, []KeyHash{kh("x")}, [][][3]uint64{{{1, 0, 1}}}), ErrInvalidState},
		"zero count":        {wireState(k, []Replica{ra}, []KeyHash{kh("x")}, [][][3]uint64{{{0, 0, 0}}}), ErrInvalidState},
		"count too large":   {wireState(k, []Replica{ra}, []KeyHash{kh("x")}, [][][3]uint64{{{0, 0, MaxKeyedCount + 1}}}), ErrInvalidState},
		"events unordered":  {wireState(k, []Replica{ra, rb}, []KeyHash{kh("x")}, [][][3]uint64{{{1, 0, 1}, {0, 0, 1}}}), ErrInvalidState},
		"duplicate event":   {wireState(k, []Replica{ra}, []KeyHash{kh("x")}, [][][3]uint64{{{0, 0, 1}, {0, 0, 2}}}), ErrInvalidState},
		"tick overflow":     {wireState(k, []Replica{ra}, []KeyHash{kh("x")}, [][][3]uint64{{{0, 1 << 62, 1}}}), ErrInvalidState},
		"count missing":     {wireState(k, []Replica{ra}, []KeyHash{kh("x")}, [][][3]uint64{{}}), ErrInvalidState},
	} {
		st := k.Empty()
		st.WindowLen, st.Ticks = tc.st.WindowLen, tc.st.Ticks
		st.Replicas, st.Base, st.Hashes, st.Log = tc.st.Replicas, tc.st.Base, tc.st.Hashes, tc.st.Log
		if err := st.Validate(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Validate = %v, want %v", name, err, tc.want)
		}
	}
	trailing := wireState(k, []Replica{ra}, []KeyHash{kh("x")}, one)
	trailing.Log = append(trailing.Log, 0)
	if err := trailing.Validate(); !errors.Is(err, ErrInvalidState) {
		t.Errorf("trailing bytes: Validate = %v", err)
	}
	short := wireState(k, []Replica{ra}, []KeyHash{kh("x")}, one)
	short.Hashes = short.Hashes[:15]
	if err := short.Validate(); !errors.Is(err, ErrInvalidState) {
		t.Errorf("short hash: Validate = %v", err)
	}
	if _, err := NewKeyedWindow(Replica{"a", 1}, 0, 1); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewKeyedWindow(window 0) = %v", err)
	}
	if _, err := NewKeyedWindow(Replica{"a", 1}, 7, 8); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewKeyedWindow(ticks under 1 ns) = %v", err)
	}
}

// TestKeyedWindowMemoryPerKey measures the heap a local state holds per
// active key at N = 10: each key counted once by its owner and once by
// each of nine peers (a key every node sees).
func TestKeyedWindowMemoryPerKey(t *testing.T) {
	const keys = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := mustKeyed(t, Replica{"node-0", 1}, time.Minute, 100_000)
	for i := range keys {
		w.AddAt(t0, kh("client-"+strconv.Itoa(i)), 1)
	}
	w.Delta()
	for p := 1; p < 10; p++ {
		peer := mustKeyed(t, Replica{"node-" + strconv.Itoa(p), 1}, time.Minute, 100_000)
		for i := range keys {
			peer.AddAt(t0.Add(time.Duration(p)*time.Millisecond), kh("client-"+strconv.Itoa(i)), 1)
		}
		d, _ := peer.Delta()
		w.Merge(t0, d)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / keys
	t.Logf("%.0f bytes per active key counted by 10 replicas", perKey)
	if perKey > 512 {
		t.Errorf("%.0f bytes per active key, want at most 512", perKey)
	}
	runtime.KeepAlive(w)
}

// BenchmarkKeyedWindowAdd counts into one of 100,000 keys.
func BenchmarkKeyedWindowAdd(b *testing.B) {
	k := mustKeyed(b, Replica{"a", 1}, time.Minute, 1000)
	keys := make([]KeyHash, 100_000)
	for i := range keys {
		keys[i] = kh("client-" + strconv.Itoa(i))
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

// BenchmarkKeyedWindowClone copies a state of 100,000 keys, each counted
// by 10 replicas, into its wire form: what anti-entropy does under the
// value's lock.
func BenchmarkKeyedWindowClone(b *testing.B) {
	w := mustKeyed(b, Replica{"node-0", 1}, time.Minute, 100_000)
	for p := 1; p < 10; p++ {
		peer := mustKeyed(b, Replica{"node-" + strconv.Itoa(p), 1}, time.Minute, 100_000)
		for i := range 100_000 {
			peer.AddAt(t0.Add(time.Duration(p)*time.Millisecond), kh("client-"+strconv.Itoa(i)), 1)
		}
		d, _ := peer.Delta()
		w.Merge(t0, d)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = w.Clone()
	}
}
