package crdt

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Insert-heavy histories against a naive model: many distinct keys, local
// writes and deletes, remote merges into the tree and into wire states,
// and expiry. The tree, the tombstone queue, the live count and the
// canonical wire form must agree with the model after every step.
func TestLWWMapInsertHeavyModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ttl := time.Duration(rapid.IntRange(1, 50).Draw(rt, "ttl"))
		m := NewLWWMap[int, int](Replica{"a", 1}, LWWOptions{TombstoneTTL: ttl})
		peer := NewLWWMap[int, int](Replica{"b", 1}, LWWOptions{TombstoneTTL: ttl})
		acc := m.Empty() // a wire state that accumulates the peer's deltas
		ref := map[int]LWWEntry[int, int]{}
		now := t0
		keys := rapid.IntRange(1, 400).Draw(rt, "keys")
		for step := range rapid.IntRange(1, 300).Draw(rt, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 3).Draw(rt, "dt")))
			k := rapid.IntRange(0, keys).Draw(rt, "k")
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0, 1:
				m.SetAt(now, k, step)
				it, _ := m.get(k)
				ref[k] = it.LWWEntry
			case 2:
				m.DeleteAt(now, k)
				it, _ := m.get(k)
				ref[k] = it.LWWEntry
			case 3:
				peer.SetAt(now, k, -step)
				if rapid.Bool().Draw(rt, "del") {
					peer.DeleteAt(now, k)
				}
			case 4:
				if d, ok := peer.Delta(); ok {
					acc.Merge(now, d)
					m.Merge(now, d)
					if eff, changed := m.Merge(now, d); changed || eff != nil {
						rt.Fatalf("merging a delta twice changed the map the second time: %v", eff)
					}
					for _, e := range d.E {
						if e.TS.After(ref[e.Key].TS) {
							ref[e.Key] = e
						}
					}
				}
			case 5:
				m.ExpireSome(now, rapid.IntRange(1, 5).Draw(rt, "max"))
				cutoff := now.UnixNano() - int64(ttl)
				for k, e := range ref {
					if _, found := m.get(k); found {
						continue
					}
					if !e.Deleted || e.TS.Wall >= cutoff {
						rt.Fatalf("expiry dropped %v, which is not a due tombstone", e)
					}
					delete(ref, k) // the model forgets it too
				}
			}
			if m.entries() > len(ref) {
				rt.Fatalf("the map holds %d entries, the model %d", m.entries(), len(ref))
			}
		}
		m.ExpireAt(now)
		cutoff := now.UnixNano() - int64(ttl)
		if m.Tombstones() > 0 {
			m.ascend(func(e *LWWEntry[int, int]) bool {
				if e.Deleted && e.TS.Wall < cutoff {
					rt.Fatalf("ExpireAt left a due tombstone %v", *e)
				}
				return true
			})
		}
		var want []LWWEntry[int, int]
		for _, e := range ref {
			if e.Deleted && e.TS.Wall < cutoff {
				continue
			}
			want = append(want, e)
		}
		slices.SortFunc(want, func(a, b LWWEntry[int, int]) int { return a.Key - b.Key })
		got := m.Clone()
		if err := got.Validate(); err != nil {
			rt.Fatalf("Clone is not canonical: %v", err)
		}
		if fmt.Sprint(got.E) != fmt.Sprint(want) {
			rt.Fatalf("state\n%v\nmodel\n%v", got.E, want)
		}
		live := 0
		for _, e := range want {
			if !e.Deleted {
				live++
			}
		}
		if m.Len() != live || m.Tombstones() != len(want)-live {
			rt.Fatalf("Len %d Tombstones %d, model %d live of %d", m.Len(), m.Tombstones(), live, len(want))
		}
		if len(m.tombs) > m.Tombstones()+m.Len() {
			rt.Fatalf("the tombstone queue holds %d items for %d keys", len(m.tombs), m.entries())
		}
		if err := acc.Validate(); err != nil {
			rt.Fatalf("the wire accumulation is not canonical: %v", err)
		}
	})
}

// Tombstones expire by the thousand, memory is given back, and a write
// after the delete keeps its key.
func TestLWWMapExpireThousands(t *testing.T) {
	const n = 20000
	m := NewLWWMap[int, int](Replica{"a", 1}, LWWOptions{TombstoneTTL: time.Minute})
	for k := range n {
		m.SetAt(t0, k, k)
	}
	for k := range n {
		m.DeleteAt(t0.Add(time.Second), k)
	}
	for k := 0; k < n; k += 10 {
		m.SetAt(t0.Add(2*time.Second), k, -k) // set again: must survive expiry
	}
	if m.Len() != n/10 || m.Tombstones() != n-n/10 {
		t.Fatalf("Len %d Tombstones %d", m.Len(), m.Tombstones())
	}
	if d, more := m.ExpireSome(t0.Add(time.Minute), 100); d != 0 || more {
		t.Fatalf("expired %d (more %v) before the TTL", d, more)
	}
	steps, dropped := 0, 0
	for {
		d, more := m.ExpireSome(t0.Add(2*time.Minute), 500)
		steps++
		dropped += d
		if !more {
			break
		}
		if steps > n {
			t.Fatalf("expiry does not finish")
		}
	}
	if dropped != n-n/10 {
		t.Fatalf("ExpireSome reported %d dropped, want %d", dropped, n-n/10)
	}
	if m.Tombstones() != 0 || m.Len() != n/10 || m.tree.Len() != n/10 {
		t.Fatalf("after expiry: Len %d Tombstones %d tree %d", m.Len(), m.Tombstones(), m.tree.Len())
	}
	if v, ok := m.Get(10); !ok || v != -10 {
		t.Fatalf("a key set after its delete was expired: %d, %v", v, ok)
	}
	if len(m.tombs) != 0 || cap(m.tombs) > 1024 {
		t.Fatalf("the tombstone queue kept %d items, capacity %d", len(m.tombs), cap(m.tombs))
	}
	if steps < n/500 {
		t.Fatalf("ExpireSome did more than its max per call: %d calls", steps)
	}
}

// BenchmarkLWWMapInsert: 100,000 new keys into one map (the done-when:
// ≤ 200 ms). go test -run '^$' -bench 'LWWMapInsert' -benchtime 5x ./crdt/
func BenchmarkLWWMapInsert(b *testing.B) {
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%08d", (i*7919)%len(keys)) // not in order
	}
	b.ReportAllocs()
	for b.Loop() {
		m := NewLWWMap[string, int](Replica{"a", 1}, LWWOptions{})
		now := t0
		for i, k := range keys {
			now = now.Add(time.Microsecond)
			m.SetAt(now, k, i)
		}
		b.StopTimer()
		if m.Len() != len(keys) {
			b.Fatalf("Len %d", m.Len())
		}
		m.Delta()
		b.StartTimer()
	}
}

// BenchmarkLWWMapMergeInsert: 100,000 new keys arriving one remote delta
// each.
func BenchmarkLWWMapMergeInsert(b *testing.B) {
	deltas := make([]*LWWMap[string, int], 100_000)
	for i := range deltas {
		deltas[i] = &LWWMap[string, int]{E: []LWWEntry[string, int]{{Key: fmt.Sprintf("key-%08d", (i*7919)%len(deltas)), Value: i, TS: Timestamp{Wall: t0.UnixNano(), Replica: Replica{"b", 1}}}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		m := NewLWWMap[string, int](Replica{"a", 1}, LWWOptions{})
		for _, d := range deltas {
			m.Merge(t0, d)
		}
	}
}

// BenchmarkLWWMapExpireSome: one bounded expiry step (64 tombstones, the
// step swarm's node takes under the value's lock) in
// a map of 200,000 keys, all deleted: the time a value's lock is held.
// go test -run '^$' -bench 'LWWMapExpireSome' ./crdt/
func BenchmarkLWWMapExpireSome(b *testing.B) {
	const n = 200_000
	m := NewLWWMap[string, int](Replica{"a", 1}, LWWOptions{TombstoneTTL: time.Second})
	fill := func() {
		for i := range n {
			m.DeleteAt(t0, fmt.Sprintf("key-%08d", (i*7919)%n))
		}
	}
	fill()
	b.ResetTimer()
	for b.Loop() {
		if _, more := m.ExpireSome(t0.Add(time.Hour), 64); !more {
			b.StopTimer()
			fill()
			b.StartTimer()
		}
	}
}

// After every key of a 100,000-key map is deleted and the tombstones
// expire, the memory is given back: on main 91 % of the map stayed.
func TestLWWMapExpiryGivesMemoryBack(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	m := NewLWWMap[string, int](Replica{"a", 1}, LWWOptions{TombstoneTTL: time.Second})
	const n = 100_000
	for i := range n {
		m.SetAt(t0, fmt.Sprintf("key-%08d", i), i)
	}
	m.Delta()
	full := heap()
	for i := range n {
		m.DeleteAt(t0, fmt.Sprintf("key-%08d", i))
	}
	m.Delta()
	if d := m.ExpireAt(t0.Add(time.Minute)); d != n {
		t.Fatalf("expired %d, want %d", d, n)
	}
	after := heap()
	if full <= base || after > base+(full-base)/10 {
		t.Fatalf("heap: %d before, %d with %d keys, %d after expiry: more than 10 %% of the map stayed", base, full, n, after)
	}
	runtime.KeepAlive(m)
}
