package swarm

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/crdt"
)

// The retirement view decides, from the member table alone, which replicas
// are gone, which member folds, and which members the table forgets.
func TestRetireView(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	after := time.Minute
	self := crdt.Replica{Node: "b", Incarnation: 20}
	m := &membership{members: map[string]Member{
		"a":      {Name: "a", Replica: crdt.Replica{Node: "a", Incarnation: 30}, State: MemberAlive, Since: t0},
		"b":      {Name: "b", Replica: self, State: MemberAlive, Since: t0},
		"c":      {Name: "c", Replica: crdt.Replica{Node: "c", Incarnation: 10}, State: MemberAlive, Since: t0},
		"left":   {Name: "left", Replica: crdt.Replica{Node: "left", Incarnation: 5}, State: MemberLeft, Since: t0.Add(-time.Second)},
		"failed": {Name: "failed", Replica: crdt.Replica{Node: "failed", Incarnation: 5}, State: MemberFailed, Since: t0.Add(-time.Second)},
		"old":    {Name: "old", Replica: crdt.Replica{Node: "old", Incarnation: 5}, State: MemberFailed, Since: t0.Add(-2 * after)},
	}}
	now := t0

	// A node that has just started does not take unknown names for gone.
	v, forgotten := m.retireView(now, self, now, after, 10*time.Second)
	if forgotten != 1 {
		t.Fatalf("forgot %d members, want 1 (old)", forgotten)
	}
	if _, ok := m.members["old"]; ok {
		t.Fatalf("the member table still holds a member failed for 2×RetireAfter")
	}
	if v.folder != (crdt.Replica{Node: "c", Incarnation: 10}) {
		t.Fatalf("folder %s, want the oldest live replica c#10", v.folder)
	}
	cases := []struct {
		r    crdt.Replica
		gone bool
		why  string
	}{
		{self, false, "itself"},
		{crdt.Replica{Node: "a", Incarnation: 30}, false, "a live member's current run"},
		{crdt.Replica{Node: "a", Incarnation: 29}, true, "replaced by a newer run"},
		{crdt.Replica{Node: "a", Incarnation: 31}, false, "a run not heard of yet"},
		{crdt.Replica{Node: "left", Incarnation: 5}, true, "left"},
		{crdt.Replica{Node: "failed", Incarnation: 5}, false, "failed for less than RetireAfter"},
		{crdt.Replica{Node: "old", Incarnation: 5}, false, "unknown, and this node is new"},
		{crdt.Replica{Node: "never", Incarnation: 1}, false, "unknown, and this node is new"},
	}
	for _, c := range cases {
		if got := v.gone(c.r); got != c.gone {
			t.Errorf("gone(%s) = %v, want %v (%s)", c.r, got, c.gone, c.why)
		}
	}
	// A member that left a second ago is gone but not orphaned: its
	// hand-over may still be on its way by anti-entropy (10 s of grace).
	if left := (crdt.Replica{Node: "left", Incarnation: 5}); v.orphaned(left) {
		t.Errorf("orphaned(%s) a second after it left, want not before the 10 s grace", left)
	}
	if v.orphaned(self) || v.orphaned(crdt.Replica{Node: "a", Incarnation: 30}) {
		t.Errorf("a live replica is orphaned")
	}
	v11, _ := m.retireView(now.Add(9*time.Second), self, now, after, 10*time.Second)
	if left := (crdt.Replica{Node: "left", Incarnation: 5}); !v11.orphaned(left) {
		t.Errorf("orphaned(%s) 10 s after it left = false, want true", left)
	}

	// A minute later: the failed member has been away for RetireAfter,
	// and this node has run long enough to know every member.
	later := t0.Add(after)
	v, _ = m.retireView(later, self, t0, after, 10*time.Second)
	for _, c := range []struct {
		r    crdt.Replica
		gone bool
	}{
		{crdt.Replica{Node: "failed", Incarnation: 5}, true},
		{crdt.Replica{Node: "never", Incarnation: 1}, true},
		{crdt.Replica{Node: "a", Incarnation: 30}, false},
	} {
		if got := v.gone(c.r); got != c.gone {
			t.Errorf("a minute later: gone(%s) = %v, want %v", c.r, got, c.gone)
		}
	}
	if _, ok := m.members["left"]; ok {
		t.Errorf("the member table still holds a member that left RetireAfter ago")
	}
	if _, ok := m.members["a"]; !ok {
		t.Errorf("the member table forgot a live member")
	}
}

// A retirement pass copies the member table only after the table changed:
// at 500 members, a copy per pass on each node was a twelfth of what a
// 500-node process allocated. A view keeps the table as it was when the
// view was made.
func TestRetireViewCopiesTheTableOnlyAfterAChange(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := newMembership(&Node{now: func() time.Time { return now }})
	node := func(i int) *memberlist.Node {
		meta := []byte{metaVersion, 0, 0, 0, 0, 0, 0, 0, byte(i%200 + 1)}
		return &memberlist.Node{Name: fmt.Sprintf("n%03d", i), Addr: net.IPv4(127, 0, 0, 1), Port: uint16(7000 + i), Meta: meta}
	}
	for i := range 500 {
		m.update(node(i), MemberAlive)
	}
	self := crdt.Replica{Node: "n000", Incarnation: 1}
	before, _ := m.retireView(now, self, now, time.Minute, 10*time.Second)
	if len(before.members) != 500 {
		t.Fatalf("view holds %d members, want 500", len(before.members))
	}
	if allocs := testing.AllocsPerRun(20, func() { m.retireView(now, self, now, time.Minute, 10*time.Second) }); allocs > 1 {
		t.Errorf("a pass over an unchanged table of 500 allocates %.0f times, want 1 (the view)", allocs)
	}
	m.update(node(7), MemberFailed)
	after, _ := m.retireView(now, self, now, time.Minute, 10*time.Second)
	if got := after.members["n007"].State; got != MemberFailed {
		t.Errorf("a view made after n007 failed reads it %s, want failed", got)
	}
	if got := before.members["n007"].State; got != MemberAlive {
		t.Errorf("a view made before n007 failed reads it %s afterwards, want alive", got)
	}
}
