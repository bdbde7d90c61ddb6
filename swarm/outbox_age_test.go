package swarm

import (
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// A stream whose message is replaced before it is ever sent often enough
// (a busy origin) must not accumulate forever: after maxAge the queued
// message is sealed and a new accumulation starts, so old deltas die out.
// Retirement's forgetting depends on it (docs/DESIGN.md).
func TestOutboxSealsOldAccumulation(t *testing.T) {
	cd, err := codec.New(codec.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	q := &memberlist.TransmitLimitedQueue{RetransmitMult: 6, NumNodes: func() int { return 4 }}
	o := newOutbox(q, crdt.Replica{Node: "me", Incarnation: 1}, 1400, 1<<20, func() bool { return false }, cd, &counters{})
	o.maxAge = time.Second
	e := &entry{name: "hits", typeName: typeNameOf[*crdt.GCounter](), a: &valueAdapter[*crdt.GCounter]{v: crdt.NewGCounter(crdt.Replica{Node: "me", Incarnation: 1}), proto: &crdt.GCounter{}}}
	origin := crdt.Replica{Node: "o", Incarnation: 1}
	delta := func(node string) wire {
		c := crdt.NewGCounter(crdt.Replica{Node: node, Incarnation: 1})
		c.Add(1)
		return c.Clone()
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, d := range []time.Duration{0, 500 * time.Millisecond, 900 * time.Millisecond} {
		if _, err := o.add(t0.Add(d), e, origin, delta(string(rune('a'+i))), nil); err != nil {
			t.Fatal(err)
		}
	}
	acc := o.slots[outKey{"hits", origin}].acc.(*crdt.GCounter)
	if len(acc.S) != 3 {
		t.Fatalf("within maxAge the accumulation holds %d slots, want 3", len(acc.S))
	}
	if _, err := o.add(t0.Add(1100*time.Millisecond), e, origin, delta("d"), nil); err != nil {
		t.Fatal(err)
	}
	acc = o.slots[outKey{"hits", origin}].acc.(*crdt.GCounter)
	if len(acc.S) != 1 || acc.S[0].Replica.Node != "d" {
		t.Fatalf("after maxAge the accumulation holds %+v, want d's delta alone", acc.S)
	}
	if q.NumQueued() != 2 {
		t.Fatalf("%d messages queued, want the sealed one and the new one", q.NumQueued())
	}
}
