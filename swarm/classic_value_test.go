package swarm

import (
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// The classic value alone, without a node (so every entry is admitted):
// its version order and its Validate.

func classicState(entries ...classicEntry) *classicValue { return &classicValue{Entries: entries} }

func TestClassicValueNewerIncarnationWins(t *testing.T) {
	local := newClassicValue(crdt.Replica{Node: "a", Incarnation: 1}, nil, nil, nil)
	old := classicEntry{Node: "b", Incarnation: 5, Seq: 900, Raw: []byte{1}}
	restarted := classicEntry{Node: "b", Incarnation: 6, Seq: 1, Raw: []byte{2}}
	if _, changed := local.Merge(time.Time{}, classicState(old)); !changed {
		t.Fatal("first entry not merged")
	}
	if _, changed := local.Merge(time.Time{}, classicState(restarted)); !changed {
		t.Fatal("a restarted node's first value (higher incarnation, lower seq) did not replace the old one")
	}
	if _, changed := local.Merge(time.Time{}, classicState(old)); changed {
		t.Fatal("the old incarnation's entry, with its higher seq, came back")
	}
	if got := local.Entries[0]; got.Incarnation != 6 || got.Seq != 1 {
		t.Fatalf("entry = %+v, want incarnation 6 seq 1", got)
	}
	newer := classicEntry{Node: "b", Incarnation: 6, Seq: 2, Raw: []byte{3}}
	if _, changed := local.Merge(time.Time{}, classicState(newer)); !changed {
		t.Fatal("a later seq of the same incarnation was not merged")
	}
}

func TestClassicValueValidate(t *testing.T) {
	a, b := classicEntry{Node: "a"}, classicEntry{Node: "b"}
	if err := classicState(a, b).Validate(); err != nil {
		t.Fatalf("sorted entries: %v", err)
	}
	for name, s := range map[string]*classicValue{
		"unsorted":  classicState(b, a),
		"duplicate": classicState(a, a),
		"no node":   classicState(classicEntry{}),
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}
