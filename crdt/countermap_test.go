package crdt

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// cmEvent is one Add in the reference model: replica q moved its slot of
// one sign from end-amount to end.
type cmEvent struct {
	q        Replica
	negative bool
	amount   uint64
	end      uint64
}

// cmModel is the naive reference for PNCounterMap: every increment ever
// made, and every delete with what the deleting replica had seen. An
// increment counts unless some delete had seen it.
type cmModel struct {
	events  map[string][]cmEvent
	deletes map[string][]map[Replica][2]uint64
}

func (m *cmModel) value(k string) int64 {
	var v int64
	for _, e := range m.events[k] {
		seen := false
		for _, d := range m.deletes[k] {
			side := 0
			if e.negative {
				side = 1
			}
			if d[e.q][side] >= e.end {
				seen = true
				break
			}
		}
		if seen {
			continue
		}
		if e.negative {
			v -= int64(e.amount)
		} else {
			v += int64(e.amount)
		}
	}
	return v
}

// slotOf returns replica r's slot of key k in a local state.
func slotOf(m *PNCounterMap[string], k string, r Replica) CounterMapSlot {
	i, ok := m.idx[k]
	ri, rok := m.rIndex[r]
	if !ok || !rok {
		return CounterMapSlot{}
	}
	for _, s := range m.E[i].Slots {
		if s.R == ri { // a count, not a floor (FloorBit clear)
			return s
		}
	}
	return CounterMapSlot{}
}

func cmCanon(t interface{ Fatalf(string, ...any) }, m *PNCounterMap[string]) []byte {
	return canon(t, m.Clone())
}

// TestPNCounterMapAgainstModel runs random histories of adds, deletes,
// full merges and deltas delivered late, out of order and twice, through
// the wire; then every replica must converge to the same state, that state
// must be what the merge laws say, and every key's value must be the
// model's.
func TestPNCounterMapAgainstModel(t *testing.T) {
	keys := []string{"x", "y", "z"}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, len(lawReplicas)).Draw(rt, "replicas")
		xs := make([]*PNCounterMap[string], n)
		for i := range xs {
			xs[i] = NewPNCounterMap[string](lawReplicas[i], CounterMapOptions{})
		}
		model := &cmModel{events: map[string][]cmEvent{}, deletes: map[string][]map[Replica][2]uint64{}}
		var inFlight, allDeltas []*PNCounterMap[string]
		now := t0
		for range rapid.IntRange(0, 60).Draw(rt, "steps") {
			now = now.Add(time.Millisecond)
			i := rapid.IntRange(0, n-1).Draw(rt, "i")
			k := rapid.SampledFrom(keys).Draw(rt, "key")
			switch rapid.IntRange(0, 5).Draw(rt, "kind") {
			case 0, 1:
				d := rapid.Int64Range(-5, 5).Draw(rt, "n")
				if !xs[i].AddAt(now, k, d) {
					rt.Fatalf("add refused")
				}
				if d != 0 {
					s := slotOf(xs[i], k, lawReplicas[i])
					e := cmEvent{q: lawReplicas[i], negative: d < 0, amount: uint64(max(d, -d)), end: s.P}
					if d < 0 {
						e.end = s.N
					}
					model.events[k] = append(model.events[k], e)
				}
			case 2:
				seen := map[Replica][2]uint64{}
				for _, r := range lawReplicas[:n] {
					s := slotOf(xs[i], k, r)
					seen[r] = [2]uint64{s.P, s.N}
				}
				if _, held := xs[i].idx[k]; held {
					model.deletes[k] = append(model.deletes[k], seen)
				}
				xs[i].DeleteAt(now, k)
			case 3:
				j := rapid.IntRange(0, n-1).Draw(rt, "from")
				before := cmCanon(rt, xs[j])
				arg := roundTrip(rt, xs[j].Clone())
				argBefore := canon(rt, arg)
				xs[i].Merge(now, arg)
				if !bytes.Equal(argBefore, canon(rt, arg)) {
					rt.Fatalf("merge modified its argument")
				}
				if i != j && !bytes.Equal(before, cmCanon(rt, xs[j])) {
					rt.Fatalf("merge modified its source")
				}
			case 4:
				if d, ok := xs[i].Delta(); ok {
					d = roundTrip(rt, d)
					inFlight = append(inFlight, d)
					allDeltas = append(allDeltas, d)
				}
			case 5:
				if len(inFlight) > 0 {
					p := rapid.IntRange(0, len(inFlight)-1).Draw(rt, "deliver")
					xs[rapid.IntRange(0, n-1).Draw(rt, "to")].Merge(now, inFlight[p])
					if rapid.Bool().Draw(rt, "keep for a duplicate") {
						continue
					}
					inFlight = append(inFlight[:p], inFlight[p+1:]...)
				}
			}
		}
		for i := range xs {
			if d, ok := xs[i].Delta(); ok {
				allDeltas = append(allDeltas, roundTrip(rt, d))
			}
		}
		finals := make([]*PNCounterMap[string], n)
		for i := range xs {
			finals[i] = roundTrip(rt, xs[i].Clone())
		}
		all := finals[0].Clone()
		for _, f := range finals[1:] {
			all.Merge(now, f)
		}
		// Commutative, associative, idempotent.
		a, b, c := finals[0], finals[n-1], finals[rapid.IntRange(0, n-1).Draw(rt, "c")]
		mergeOf := func(xs ...*PNCounterMap[string]) *PNCounterMap[string] {
			acc := xs[0].Clone()
			for _, x := range xs[1:] {
				acc.Merge(now, x)
			}
			return acc
		}
		if !bytes.Equal(canon(rt, mergeOf(a, b)), canon(rt, mergeOf(b, a))) {
			rt.Fatalf("not commutative")
		}
		if !bytes.Equal(canon(rt, mergeOf(mergeOf(a, b), c)), canon(rt, mergeOf(a, mergeOf(b, c)))) {
			rt.Fatalf("not associative")
		}
		if _, ch := a.Clone().Merge(now, a); ch {
			rt.Fatalf("merging a state into itself reported a change")
		}
		// The effect applied to the old state equals the full merge.
		x := a.Clone()
		if eff, ch := x.Merge(now, b); ch {
			y := a.Clone()
			y.Merge(now, roundTrip(rt, eff))
			if !bytes.Equal(canon(rt, x), canon(rt, y)) {
				rt.Fatalf("effect differs from the full merge: a %+v b %+v eff %+v x %+v y %+v", a, b, eff, x, y)
			}
		}
		// Deltas, in any order and with duplicates, add up to the states.
		fromDeltas := &PNCounterMap[string]{}
		for _, d := range rapid.Permutation(allDeltas).Draw(rt, "order") {
			fromDeltas.Merge(now, d)
			fromDeltas.Merge(now, d)
		}
		if !bytes.Equal(canon(rt, fromDeltas), canon(rt, all)) {
			rt.Fatalf("deltas do not add up to the states:\ndeltas %v\nstates %v", fromDeltas.E, all.E)
		}
		// Every replica converges, to the model's values.
		for i := range xs {
			for _, f := range finals {
				xs[i].Merge(now, f)
			}
			if !bytes.Equal(cmCanon(rt, xs[i]), canon(rt, all)) {
				rt.Fatalf("replica %d did not converge", i)
			}
			for _, k := range keys {
				got, _ := xs[i].ValueAt(now, k)
				if want := model.value(k); got != want {
					rt.Fatalf("replica %d key %s: value %d, model %d", i, k, got, want)
				}
			}
		}
	})
}

// A delete resets what the deleting replica saw; an increment it had not
// seen survives (add-wins).
func TestPNCounterMapDeleteIsAnObservedReset(t *testing.T) {
	a := NewPNCounterMap[string](Replica{"a", 1}, CounterMapOptions{})
	b := NewPNCounterMap[string](Replica{"b", 1}, CounterMapOptions{})
	a.AddAt(t0, "k", 5)
	d, _ := a.Delta()
	b.Merge(t0, d)
	b.AddAt(t0, "k", 3) // b's 3 is concurrent with a's delete below
	bd, _ := b.Delta()
	a.DeleteAt(t0, "k")
	if v, ok := a.ValueAt(t0, "k"); !ok || v != 0 {
		t.Fatalf("after delete: %d %v, want 0", v, ok)
	}
	ad, _ := a.Delta()
	a.Merge(t0, bd)
	b.Merge(t0, ad)
	for name, m := range map[string]*PNCounterMap[string]{"a": a, "b": b} {
		if v, _ := m.ValueAt(t0, "k"); v != 3 {
			t.Errorf("%s reads %d, want 3: the delete removes the 5 it saw and keeps b's concurrent 3", name, v)
		}
	}
}

// A key idle for IdleTTL reads as absent; an Add to it starts from zero,
// on every replica alike; ExpireSome drops it; Merge does not take an
// expired key back.
func TestPNCounterMapIdleExpiry(t *testing.T) {
	opts := CounterMapOptions{IdleTTL: 10 * time.Second}
	a := NewPNCounterMap[string](Replica{"a", 1}, opts)
	b := NewPNCounterMap[string](Replica{"b", 1}, opts)
	a.AddAt(t0, "k", 7)
	a.AddAt(t0, "old", 1)
	full := a.Clone()
	b.Merge(t0, full)
	t1 := t0.Add(9 * time.Second)
	if v, ok := b.ValueAt(t1, "k"); !ok || v != 7 {
		t.Fatalf("before the TTL: %d %v", v, ok)
	}
	t2 := t0.Add(10*time.Second + time.Millisecond)
	if _, ok := b.ValueAt(t2, "k"); ok {
		t.Fatal("an idle key still reads after its TTL")
	}
	b.AddAt(t2, "k", 2)
	if v, _ := b.ValueAt(t2, "k"); v != 2 {
		t.Fatalf("an add to an expired key reads %d, want 2 (a fresh start)", v)
	}
	bd, _ := b.Delta()
	a.Merge(t2, bd)
	if v, _ := a.ValueAt(t2, "k"); v != 2 {
		t.Fatalf("the peer reads %d, want 2: the reset travels with the add", v)
	}
	a.Delta() // as the flusher does: ExpireSome leaves keys with unsent changes
	if got, more := a.ExpireSome(t2, 100); got != 1 || more || a.Len() != 1 {
		t.Fatalf("ExpireSome dropped %d, %d keys left; want 1 dropped (old), 1 left", got, a.Len())
	}
	before := a.Refused
	a.Merge(t2, full) // a stale peer's state still holds "old"
	if _, ok := a.idx["old"]; ok || a.Refused != before+1 {
		t.Fatalf("an expired key came back (refused %d → %d)", before, a.Refused)
	}
}

func TestPNCounterMapBounds(t *testing.T) {
	a := NewPNCounterMap[string](Replica{"a", 1}, CounterMapOptions{MaxKeys: 2})
	if !a.AddAt(t0, "1", 1) || !a.AddAt(t0, "2", 1) {
		t.Fatal("adds within MaxKeys refused")
	}
	if a.AddAt(t0, "3", 1) {
		t.Fatal("an add beyond MaxKeys was taken")
	}
	if !a.AddAt(t0, "1", 1) {
		t.Fatal("an add to a held key was refused at MaxKeys")
	}
	b := NewPNCounterMap[string](Replica{"b", 1}, CounterMapOptions{})
	b.AddAt(t0, "3", 1)
	b.AddAt(t0.Add(time.Hour), "future", 1)
	a.Merge(t0, b.Clone())
	if a.Len() != 2 || a.Refused != 2 {
		t.Fatalf("len %d refused %d: want the new key (over MaxKeys) and the future one refused", a.Len(), a.Refused)
	}
}

func TestPNCounterMapValidate(t *testing.T) {
	r1, r2 := Replica{"a", 1}, Replica{"b", 1}
	s := func(r uint32, p, n uint64) CounterMapSlot { return CounterMapSlot{R: r, P: p, N: n} }
	e := func(k string, slots, floors []CounterMapSlot) CounterMapEntry[string] {
		for _, f := range floors {
			f.R |= FloorBit
			slots = append(slots, f)
		}
		return CounterMapEntry[string]{Key: k, Stamp: 1, Slots: slots}
	}
	good := &PNCounterMap[string]{R: []Replica{r1, r2}, E: []CounterMapEntry[string]{
		e("a", []CounterMapSlot{s(0, 3, 1), s(1, 2, 0)}, []CounterMapSlot{s(0, 3, 0)}),
		e("b", []CounterMapSlot{s(1, 1, 0)}, nil),
	}}
	if err := good.Validate(); err != nil {
		t.Fatalf("a valid state: %v", err)
	}
	for name, m := range map[string]*PNCounterMap[string]{
		"replicas unsorted":   {R: []Replica{r2, r1}},
		"zero replica":        {R: []Replica{{}}},
		"keys unsorted":       {R: []Replica{r1}, E: []CounterMapEntry[string]{e("b", []CounterMapSlot{s(0, 1, 0)}, nil), e("a", []CounterMapSlot{s(0, 1, 0)}, nil)}},
		"duplicate key":       {R: []Replica{r1}, E: []CounterMapEntry[string]{e("a", []CounterMapSlot{s(0, 1, 0)}, nil), e("a", []CounterMapSlot{s(0, 1, 0)}, nil)}},
		"index out of range":  {R: []Replica{r1}, E: []CounterMapEntry[string]{e("a", []CounterMapSlot{s(1, 1, 0)}, nil)}},
		"slots unsorted":      {R: []Replica{r1, r2}, E: []CounterMapEntry[string]{e("a", []CounterMapSlot{s(1, 1, 0), s(0, 1, 0)}, nil)}},
		"zero slot":           {R: []Replica{r1}, E: []CounterMapEntry[string]{e("a", []CounterMapSlot{s(0, 0, 0)}, nil)}},
		"count over the cap":  {R: []Replica{r1}, E: []CounterMapEntry[string]{e("a", []CounterMapSlot{s(0, CounterMapMaxCount+1, 0)}, nil)}},
		"floor above slot":    {R: []Replica{r1}, E: []CounterMapEntry[string]{e("a", []CounterMapSlot{s(0, 1, 0)}, []CounterMapSlot{s(0, 2, 0)})}},
		"floor without slot":  {R: []Replica{r1, r2}, E: []CounterMapEntry[string]{e("a", []CounterMapSlot{s(0, 1, 0)}, []CounterMapSlot{s(1, 1, 0)})}},
		"negative stamp":      {R: []Replica{r1}, E: []CounterMapEntry[string]{{Key: "a", Stamp: -1, Slots: []CounterMapSlot{s(0, 1, 0)}}}},
		"max uint64 (poison)": {R: []Replica{r1}, E: []CounterMapEntry[string]{e("a", []CounterMapSlot{s(0, ^uint64(0), 0)}, nil)}},
	} {
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPNCounterMapAddAllocatesNothing(t *testing.T) {
	m := NewPNCounterMap[string](Replica{"a", 1}, CounterMapOptions{})
	m.AddAt(t0, "k", 1)
	m.Delta()
	if n := testing.AllocsPerRun(1000, func() { m.AddAt(t0, "k", 1) }); n != 0 {
		t.Fatalf("AddAt on a held key allocates %v times", n)
	}
}

// BenchmarkPNCounterMapAdd: an add to a held key, 100,000 keys.
//
//	go test -run '^$' -bench PNCounterMap -benchmem -count 5 ./crdt/
func BenchmarkPNCounterMapAdd(b *testing.B) {
	m := NewPNCounterMap[string](Replica{"a", 1}, CounterMapOptions{})
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("tenant-%06d", i)
		m.AddAt(t0, keys[i], 1)
	}
	m.Delta()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.AddAt(t0, keys[i%len(keys)], 1)
		i++
	}
}

// BenchmarkPNCounterMapDelta: the flusher's Delta after 1,000 keys of
// 100,000 were written, per written key.
func BenchmarkPNCounterMapDelta(b *testing.B) {
	m := NewPNCounterMap[string](Replica{"a", 1}, CounterMapOptions{})
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("tenant-%06d", i)
		m.AddAt(t0, keys[i], 1)
	}
	m.Delta()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for range 1000 {
			m.AddAt(t0, keys[i%len(keys)], 1)
			i += 7
		}
		m.Delta()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/key")
}

// BenchmarkPNCounterMapMemory reports the heap per key of 100,000 keys
// written by three replicas (the map as one node holds it).
func BenchmarkPNCounterMapMemory(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(counterMapBytesPerKey(100_000, 3), "B/key")
	}
}

func counterMapBytesPerKey(keys, replicas int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewPNCounterMap[string](Replica{"r0", 1}, CounterMapOptions{})
	for r := 1; r < replicas; r++ {
		peer := NewPNCounterMap[string](Replica{fmt.Sprintf("r%d", r), 1}, CounterMapOptions{})
		for i := range keys {
			peer.AddAt(t0, fmt.Sprintf("tenant-%06d", i), 1)
		}
		m.Merge(t0, peer.Clone())
	}
	for i := range keys {
		m.AddAt(t0, fmt.Sprintf("tenant-%06d", i), 1)
	}
	m.Delta()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(m)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(keys)
}

func TestPNCounterMapMemoryPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100,000 keys")
	}
	got := counterMapBytesPerKey(100_000, 3)
	t.Logf("%.0f B per key (100,000 keys, 3 replicas)", got)
	if got > 200 {
		t.Errorf("%.0f B per key at 3 replicas; the bound is 200", got)
	}
}
