package crdt

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// ttlWrite is the model's record of one write: what every replica that has
// seen it must compute from it alone.
type ttlWrite struct {
	ts      Timestamp
	v       int
	deleted bool
	ttl     time.Duration
}

// TestLWWMapTTLModel: replicas write with and without TTLs, delete, merge
// full states in any order and run expiry at arbitrary instants; at every
// instant each replica's reads (GetAt, LenAt, RangeAt) equal the model's:
// the key's highest-timestamped write the replica has seen, absent if it
// is a delete or its TS.Wall+TTL has passed. Time stays well inside the
// TombstoneTTL, so no tombstone is dropped and nothing may come back.
func TestLWWMapTTLModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const nrep = 3
		keys := []string{"a", "b", "c", "d"}
		opts := LWWOptions{TombstoneTTL: time.Hour, MaxSkew: time.Hour}
		maps := make([]*LWWMap[string, int], nrep)
		seen := make([]map[string]ttlWrite, nrep) // per replica: the winning write per key
		for i := range maps {
			maps[i] = NewLWWMap[string, int](Replica{string(rune('a' + i)), 1}, opts)
			seen[i] = map[string]ttlWrite{}
		}
		now := time.Unix(1_700_000_000, 0)
		learn := func(r int, k string, w ttlWrite) {
			if cur, ok := seen[r][k]; !ok || w.ts.After(cur.ts) {
				seen[r][k] = w
			}
		}
		check := func(r int) {
			nowN := now.UnixNano()
			want := map[string]int{}
			for k, w := range seen[r] {
				if !w.deleted && !(w.ttl > 0 && w.ts.Wall+int64(w.ttl) <= nowN) {
					want[k] = w.v
				}
			}
			for _, k := range keys {
				v, ok := maps[r].GetAt(now, k)
				wv, wok := want[k]
				if ok != wok || v != wv {
					t.Fatalf("replica %d key %s at %d: got %d,%v want %d,%v (%+v)", r, k, nowN, v, ok, wv, wok, seen[r][k])
				}
			}
			if got := maps[r].LenAt(now); got != len(want) {
				t.Fatalf("replica %d: LenAt %d, want %d", r, got, len(want))
			}
			got := map[string]int{}
			maps[r].RangeAt(now, func(k string, v int, _ Timestamp) bool { got[k] = v; return true })
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("replica %d: RangeAt %v, want %v", r, got, want)
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"set": func(t *rapid.T) {
				r := rapid.IntRange(0, nrep-1).Draw(t, "r")
				k := rapid.SampledFrom(keys).Draw(t, "k")
				v := rapid.IntRange(1, 100).Draw(t, "v")
				ttl := time.Duration(rapid.IntRange(0, 5).Draw(t, "ttl")) * time.Second
				maps[r].SetTTLAt(now, k, v, ttl)
				it, _ := maps[r].get(k)
				learn(r, k, ttlWrite{ts: it.TS, v: v, ttl: ttl})
			},
			"delete": func(t *rapid.T) {
				r := rapid.IntRange(0, nrep-1).Draw(t, "r")
				k := rapid.SampledFrom(keys).Draw(t, "k")
				maps[r].DeleteAt(now, k)
				it, _ := maps[r].get(k)
				learn(r, k, ttlWrite{ts: it.TS, deleted: true})
			},
			"merge": func(t *rapid.T) {
				from := rapid.IntRange(0, nrep-1).Draw(t, "from")
				to := rapid.IntRange(0, nrep-1).Draw(t, "to")
				state := maps[from].Clone()
				if rapid.Bool().Draw(t, "wire") {
					state = roundTrip(t, state)
				}
				maps[to].Merge(now, state)
				for k, w := range seen[from] {
					learn(to, k, w)
				}
			},
			"advance": func(t *rapid.T) {
				now = now.Add(time.Duration(rapid.IntRange(1, 2500).Draw(t, "ms")) * time.Millisecond)
			},
			"expire": func(t *rapid.T) {
				r := rapid.IntRange(0, nrep-1).Draw(t, "r")
				maps[r].ExpireSome(now, rapid.IntRange(1, 3).Draw(t, "max"))
			},
			"": func(t *rapid.T) {
				for r := range maps {
					check(r)
				}
			},
		})
	})
}

// TestLWWMapTTLExpiredBlocksOlder: an entry past its TTL, turned into a
// tombstone by expiry, still beats an older write arriving late, and a
// newer write after the deadline wins.
func TestLWWMapTTLExpiredBlocksOlder(t *testing.T) {
	opts := LWWOptions{TombstoneTTL: time.Hour, MaxSkew: time.Hour}
	a := NewLWWMap[string, int](Replica{"a", 1}, opts)
	b := NewLWWMap[string, int](Replica{"b", 1}, opts)
	t0 := time.Unix(1_700_000_000, 0)
	b.SetAt(t0, "k", 1) // older write, delivered late
	a.SetTTLAt(t0.Add(time.Second), "k", 2, time.Second)
	later := t0.Add(3 * time.Second)
	if n := a.ExpireAt(later); n != 1 {
		t.Fatalf("ExpireAt turned %d entries, want 1", n)
	}
	if a.Len() != 0 || a.Tombstones() != 1 {
		t.Fatalf("after expiry: Len %d Tombstones %d, want 0 and 1", a.Len(), a.Tombstones())
	}
	a.Merge(later, roundTrip(nil, b.Clone()))
	if v, ok := a.GetAt(later, "k"); ok {
		t.Fatalf("older write resurrected the key: %d", v)
	}
	b.SetAt(later, "k", 3)
	a.Merge(later, b.Clone())
	if v, ok := a.GetAt(later, "k"); !ok || v != 3 {
		t.Fatalf("newer write after the deadline: got %d,%v want 3,true", v, ok)
	}
	// The tombstone is dropped TombstoneTTL after the deadline, not the write.
	a.DeleteAt(later, "k")
	if n := a.ExpireAt(later.Add(time.Hour + time.Second)); n != 1 || a.Tombstones() != 0 {
		t.Fatalf("tombstone not dropped: %d dropped, %d left", n, a.Tombstones())
	}
}

func TestLWWMapTTLValidate(t *testing.T) {
	m := &LWWMap[string, int]{E: []LWWEntry[string, int]{{Key: "a", TS: Timestamp{Wall: 1, Replica: Replica{"a", 1}}, TTL: -1}}}
	if err := m.Validate(); err == nil {
		t.Fatal("negative TTL accepted")
	}
}
