package crdt

import (
	"fmt"
	"slices"
	"time"
)

// Replica retirement: a counter keeps one slot per replica that ever
// counted, and every restart makes a new replica, so without retirement a
// counter grows with the cluster's history. Retirement turns the slot of a
// replica that is gone into a Retirement record, lets the record settle for
// a horizon, commits it into a live replica's own slot, and forgets it a
// horizon later. docs/DESIGN.md ("Replica retirement") gives the safety
// argument; in short, for every replica R the counter holds its slot s
// (written only by R) and at most one record (N, A): R's share of the value
// is max(s, N) − A, where A is the part already committed into another
// slot. Both components only grow, so merging stays a lattice join and no
// increment is lost or counted twice, whatever the order of messages.

// Retirement records that the slot of a replica that is gone was folded.
// N is the replica's count as folded (the record stands for the slot up to
// N: a slot of the replica that is not above N adds nothing); A (≤ N) is
// how much of N has been committed into the slot of a live replica; Into is
// the replica that commits the rest, once the record has been unchanged
// for the horizon. Only Into writes a record (fold, re-home, commit, hand
// over), and every write raises Gen; At is the unix time in nanoseconds of
// the last write, a hand-over excepted (it keeps the settle time going).
type Retirement struct {
	_       struct{} `cbor:",toarray"`
	Replica Replica
	N       uint64
	A       uint64
	Into    Replica
	Gen     uint64
	At      int64
}

// leads reports whether r's (Into, Gen, At) win over o's when two records of
// the same replica join: the larger N, then the larger Gen, then the
// smaller Into, then the later At. It is a total order, so the join below
// is commutative, associative and idempotent.
func (r *Retirement) leads(o *Retirement) bool {
	if r.N != o.N {
		return r.N > o.N
	}
	if r.Gen != o.Gen {
		return r.Gen > o.Gen
	}
	if c := r.Into.Compare(o.Into); c != 0 {
		return c < 0
	}
	return r.At > o.At
}

// join returns the join of two records of the same replica: N and A are
// each the maximum (both only grow), the rest comes from the leader.
func (r Retirement) join(o Retirement) Retirement {
	out := r
	if o.leads(&r) {
		out = o
	}
	out.N, out.A = max(r.N, o.N), max(r.A, o.A)
	return out
}

func compareRetirement(a, b Retirement) int { return a.Replica.Compare(b.Replica) }

// RetirePlan is what the caller knows of membership when it asks a value to
// retire replicas. crdt knows nothing of membership; the swarm package
// builds the plan from its member table.
type RetirePlan struct {
	// Gone reports whether r is no longer any live member's current
	// replica: its node left, failed and stayed away long enough, or now
	// runs a newer incarnation. It must report false for the value's own
	// replica.
	Gone func(r Replica) bool
	// Orphaned, if set, reports whether a record's Into has been gone long
	// enough for the folder to re-home the record. A replica that left on
	// purpose handed its records over just before (HandOver); a member
	// that missed that message gets it from anti-entropy soon after, and
	// re-homing first would start the record's settle period again. nil
	// means Gone. It must imply Gone.
	Orphaned func(r Replica) bool
	// Folder is set on the one member (in this member's view) that folds
	// the slots of gone replicas and takes over the records of gone
	// folders. Two members that both believe they are the folder fold
	// the same replica concurrently; the records' join keeps one.
	Folder bool
	// Horizon is how long a record stays unchanged before Into commits
	// it, and how long a committed record is remembered afterwards.
	Horizon time.Duration
	// MaxFolds, if positive, bounds the folds and re-homes of one call,
	// so that the caller's lock is held briefly even when thousands of
	// replicas go at once; the rest waits for the next call.
	MaxFolds int
	// Tally, if set, is added the records the value holds after the
	// call, so that the caller can report them without another scan.
	Tally *RetireTally
}

// RetireTally counts the retirement records of the values a pass visited.
type RetireTally struct {
	// Records is the number of records held.
	Records int
	// Uncommitted is the number of them not committed yet (A < N).
	Uncommitted int
	// OldestUncommitted is the smallest At, in unix nanoseconds, of an
	// uncommitted record (0 without one): how long the oldest has been
	// settling, which a healthy cluster keeps near the horizon.
	OldestUncommitted int64
}

func (t *RetireTally) add(rs []Retirement) {
	t.Records += len(rs)
	for i := range rs {
		if g := &rs[i]; g.A < g.N {
			t.Uncommitted++
			if t.OldestUncommitted == 0 || g.At < t.OldestUncommitted {
				t.OldestUncommitted = g.At
			}
		}
	}
}

// Retirer is implemented by values that keep per-replica state which
// retirement can fold away. Retire folds, commits and forgets as the plan
// allows and reports whether it changed the replicated state; a changed
// value has a Delta to gossip. Like every method of a value it must be
// called with the value's lock held; it costs O(slots + records) and calls
// plan.Gone at most once per replica it holds.
type Retirer interface {
	Retire(now time.Time, plan RetirePlan) (changed bool)
}

// HandOverer is implemented by values whose retirement records a replica
// that leaves on purpose can pass to another (see GCounter.HandOver).
type HandOverer interface {
	HandOver(to Replica) (changed bool)
}

var (
	_ Retirer    = (*GCounter)(nil)
	_ Retirer    = (*PNCounter)(nil)
	_ HandOverer = (*GCounter)(nil)
	_ HandOverer = (*PNCounter)(nil)
)

// validateRetired checks records decoded from the wire: sorted by replica,
// no duplicates, A ≤ N, non-zero replicas.
func validateRetired(rs []Retirement) error {
	for i := range rs {
		r := &rs[i]
		if r.Replica.IsZero() || r.Into.IsZero() {
			return fmt.Errorf("%w: retirement %d has a zero replica", ErrInvalidState, i)
		}
		if r.N == 0 || r.A > r.N {
			return fmt.Errorf("%w: retirement of %s has count %d and committed %d", ErrInvalidState, r.Replica, r.N, r.A)
		}
		if i > 0 && rs[i-1].Replica.Compare(r.Replica) >= 0 {
			return fmt.Errorf("%w: retirement %d (%s) is not after %s", ErrInvalidState, i, r.Replica, rs[i-1].Replica)
		}
	}
	return nil
}

// joinRetired joins the records in into *dst (both sorted) and returns
// the incoming records that changed it, as they came: an effect carries
// only what its origin wrote, so a relay's forward passes the origin's
// bounds (checkRetired).
func joinRetired(dst *[]Retirement, in []Retirement) (changed []Retirement) {
	var ins []Retirement
	d := *dst
	i := 0
	for _, o := range in {
		for i < len(d) && d[i].Replica.Compare(o.Replica) < 0 {
			i++
		}
		if i < len(d) && d[i].Replica == o.Replica {
			j := d[i].join(o)
			if j != d[i] {
				d[i] = j
				changed = append(changed, o)
			}
			continue
		}
		ins = append(ins, o)
		changed = append(changed, o)
	}
	if len(ins) > 0 {
		*dst = insertSorted(d, ins, compareRetirement)
	}
	if len(changed) > 1 {
		slices.SortFunc(changed, compareRetirement)
	}
	return changed
}

func searchRetired(rs []Retirement, r Replica) (int, bool) {
	return slices.BinarySearchFunc(rs, r, func(x Retirement, r Replica) int { return x.Replica.Compare(r) })
}

// Retired returns a copy of the counter's retirement records, sorted by
// replica. The caller owns it.
func (c *GCounter) Retired() []Retirement { return slices.Clone(c.Gone) }

// retiredCount returns the count r's record stands for, 0 without one.
func (c *GCounter) retiredCount(r Replica) uint64 {
	if i, ok := searchRetired(c.Gone, r); ok {
		return c.Gone[i].N
	}
	return 0
}

// valueRetired is Value for a counter with records: each replica counts
// max(slot, N) − A.
func (c *GCounter) valueRetired() uint64 {
	var sum uint64
	j := 0
	for i := range c.S {
		s := &c.S[i]
		for j < len(c.Gone) && c.Gone[j].Replica.Compare(s.Replica) < 0 {
			g := &c.Gone[j]
			sum = satAdd(sum, g.N-g.A)
			j++
		}
		if j < len(c.Gone) && c.Gone[j].Replica == s.Replica {
			g := &c.Gone[j]
			sum = satAdd(sum, max(s.N, g.N)-g.A)
			j++
			continue
		}
		sum = satAdd(sum, s.N)
	}
	for ; j < len(c.Gone); j++ {
		sum = satAdd(sum, c.Gone[j].N-c.Gone[j].A)
	}
	return sum
}

// mergeRetired is Merge when either side holds records: the records join
// first, then the slots that are not covered by a record merge as usual,
// and finally c drops its own slots that a record now covers. A slot
// covered by a record adds nothing and is not part of the effect, so a
// late message from a retired replica dies out instead of being relayed.
func (c *GCounter) mergeRetired(now time.Time, other *GCounter) (effect *GCounter, changed bool) {
	gone := joinRetired(&c.Gone, other.Gone)
	live := &GCounter{S: make([]Slot, 0, len(other.S))}
	for _, s := range other.S {
		if s.N > c.retiredCount(s.Replica) {
			live.S = append(live.S, s)
		}
	}
	// The plain slot merge, with the records set aside so that Merge does
	// not come back here.
	kept := c.Gone
	c.Gone = nil
	slotEff, slotsChanged := c.Merge(now, live)
	c.Gone = kept
	c.dropCovered()
	if len(gone) == 0 && !slotsChanged {
		return nil, false
	}
	effect = &GCounter{Gone: gone}
	if slotsChanged {
		effect.S = slotEff.S
	}
	return effect, true
}

// dropCovered removes the slots whose count a record covers; the own slot
// included (a replica retired while it was alive continues from the
// record's count at its next Add).
func (c *GCounter) dropCovered() {
	if len(c.Gone) == 0 {
		return
	}
	// Both are sorted by replica: one pass over each.
	kept := c.S[:0]
	j := 0
	for _, s := range c.S {
		for j < len(c.Gone) && c.Gone[j].Replica.Compare(s.Replica) < 0 {
			j++
		}
		if j < len(c.Gone) && c.Gone[j].Replica == s.Replica && s.N <= c.Gone[j].N {
			continue
		}
		kept = append(kept, s)
	}
	clear(c.S[len(kept):])
	c.S = kept
	if len(c.S) == 0 {
		c.S = nil
	}
	c.reindexOwn()
}

// reindexOwn finds the own slot again after S changed.
func (c *GCounter) reindexOwn() {
	l := c.loc
	if l == nil {
		return
	}
	l.own = 0
	if i, ok := c.search(l.self); ok && !l.self.IsZero() {
		l.own = i + 1
	}
}

// deltaRetired is Delta when records changed locally: the own slot and the
// changed records.
func (c *GCounter) deltaRetired() (*GCounter, bool) {
	l := c.loc // not nil: only a local state has changed records
	d := &GCounter{}
	if i := l.own - 1; uint(i) < uint(len(c.S)) {
		d.S = []Slot{c.S[i]}
	}
	for _, r := range l.goneDirty {
		if i, ok := searchRetired(c.Gone, r); ok {
			d.Gone = append(d.Gone, c.Gone[i])
		}
	}
	slices.SortFunc(d.Gone, compareRetirement)
	d.Gone = slices.CompactFunc(d.Gone, func(a, b Retirement) bool { return a.Replica == b.Replica })
	l.goneDirty = l.goneDirty[:0]
	l.dirty = false
	if len(d.S) == 0 && len(d.Gone) == 0 {
		return nil, false
	}
	return d, true
}

// Retire folds, commits and forgets (see Retirer):
//
//   - fold: a slot of a gone replica becomes a record into this replica,
//     when this replica is the plan's folder, or when the replica already
//     has a record into this replica (a late remainder);
//   - re-home: a record not yet committed whose Into is gone (and
//     orphaned, when the plan says) is taken over by the folder;
//   - commit: a record into this replica that has been unchanged for the
//     horizon adds N − A to this replica's own slot and sets A = N;
//   - adopt: a committed record of this replica itself (retired while it
//     was alive, which a partition can cause) is taken over by it and
//     refreshed every half horizon;
//   - forget: a committed record of a gone replica, unchanged for the
//     horizon, with no slot left, is dropped (locally; every member
//     forgets it on its own).
func (c *GCounter) Retire(now time.Time, p RetirePlan) bool {
	self := c.owner()
	if self.IsZero() || p.Gone == nil {
		if p.Tally != nil {
			p.Tally.add(c.Gone)
		}
		return false
	}
	l := c.loc
	at := now.UnixNano()
	settled := now.Add(-p.Horizon).UnixNano()
	changed := false
	touch := func(g *Retirement) {
		g.Into, g.Gen, g.At = self, g.Gen+1, at
		l.goneDirty = append(l.goneDirty, g.Replica)
		changed = true
	}

	// Fold slots.
	budget := p.MaxFolds
	if budget <= 0 {
		budget = len(c.S) + len(c.Gone)
	}
	var folded []Retirement
	for _, s := range c.S {
		if budget == 0 {
			break
		}
		if s.Replica == self {
			continue
		}
		i, has := searchRetired(c.Gone, s.Replica)
		mine := has && c.Gone[i].Into == self
		if !(p.Folder || mine) || !p.Gone(s.Replica) {
			continue
		}
		if has {
			if !mine && !p.Gone(c.Gone[i].Into) {
				continue // its live Into folds the remainder
			}
			g := &c.Gone[i]
			g.N = max(g.N, s.N)
			touch(g)
			budget--
			continue
		}
		g := Retirement{Replica: s.Replica, N: s.N}
		touch(&g)
		folded = append(folded, g)
		budget--
	}
	if len(folded) > 0 {
		c.Gone = insertSorted(c.Gone, folded, compareRetirement)
	}

	// Adopt: a record of this (live) replica, once committed, is taken
	// over by it and kept fresh, so that no member forgets it while this
	// replica lives: forgetting it would let this replica's slot, which
	// continues from N, count N a second time.
	if i, ok := searchRetired(c.Gone, self); ok {
		g := &c.Gone[i]
		if g.A == g.N && (g.Into != self || g.At <= now.Add(-p.Horizon/2).UnixNano()) {
			touch(g)
		}
	}

	// Re-home, commit, forget.
	orphaned := p.Orphaned
	if orphaned == nil {
		orphaned = p.Gone
	}
	forget := 0
	for i := range c.Gone {
		g := &c.Gone[i]
		switch {
		case g.A < g.N && g.Into != self && p.Folder && budget > 0 && orphaned(g.Into):
			touch(g)
			budget--
		case g.A < g.N && g.Into == self && g.At <= settled:
			c.Add(g.N - g.A)
			g.A = g.N
			touch(g)
		case g.A == g.N && g.At <= settled && p.Gone(g.Replica):
			if _, live := c.search(g.Replica); !live {
				g.N = 0 // marks it for removal below
				forget++
			}
		}
	}
	if forget > 0 {
		c.Gone = slices.DeleteFunc(c.Gone, func(g Retirement) bool { return g.N == 0 })
		if len(c.Gone) == 0 {
			c.Gone = nil
		}
	}
	if changed {
		c.dropCovered()
	}
	if p.Tally != nil {
		p.Tally.add(c.Gone)
	}
	return changed
}

// Retire retires both halves (see GCounter.Retire).
func (c *PNCounter) Retire(now time.Time, p RetirePlan) bool {
	a := c.P.Retire(now, p)
	b := c.N.Retire(now, p)
	return a || b
}

// HandOver is called by a replica that is leaving on purpose: every record
// folded into it and not committed yet passes to to (Into = to, Gen+1),
// keeping At, so that its settle period goes on instead of starting again
// when the folder would re-home it. Without it, a fleet whose replicas are
// all replaced more often than the horizon (deploys) re-homes every record
// at every deploy and never commits one. Keeping At is safe for the reason
// a commit waits at all: only Into writes a record, so this is not
// concurrent with another member's write except a folder's re-home of a
// record it believes orphaned; that re-home starts a new settle period, by
// whose end the folder knows the winner of the join (and, if to committed,
// the commit, whose Gen is higher). to must be a live replica; if it is
// gone too, the folder re-homes the record as before.
func (c *GCounter) HandOver(to Replica) bool {
	self := c.owner()
	if self.IsZero() || to.IsZero() || to == self {
		return false
	}
	changed := false
	for i := range c.Gone {
		g := &c.Gone[i]
		if g.Into == self && g.A < g.N {
			g.Into, g.Gen = to, g.Gen+1
			c.loc.goneDirty = append(c.loc.goneDirty, g.Replica)
			changed = true
		}
	}
	return changed
}

// HandOver hands over both halves' records (see GCounter.HandOver).
func (c *PNCounter) HandOver(to Replica) bool {
	a := c.P.HandOver(to)
	b := c.N.HandOver(to)
	return a || b
}

// Retire drops the buckets and slots that have left the window (Expire):
// a windowed counter needs no folding, since a gone replica's counts
// expire with the window, but a counter nobody adds to or merges into
// would keep a gone replica's slot until then. Nothing replicated changes,
// so it reports false.
func (w *WindowCounter) Retire(now time.Time, _ RetirePlan) bool {
	w.Expire(now)
	return false
}

var _ Retirer = (*WindowCounter)(nil)

// checkRetired is Check for the records of a message (see Bounded). Every
// record is written by its Into, so a message bound to an origin carries
// only records into that origin, or records the origin hands over (the
// receiver's copy of the record is into the origin, and N is unchanged).
// A record's N covers another replica's
// slot, so for such a message it may not exceed what the receiver knows
// of that replica (Get) by more than MaxStep: a forged record could
// otherwise freeze a live replica's count at the ceiling. Records count
// as replicas.
func (c *GCounter) checkRetired(theirs []Retirement, origin Replica, b Bounds) error {
	bound := !origin.IsZero()
	added := 0
	for _, g := range theirs {
		if bound && g.Into != origin && !c.handedOver(g, origin) {
			return outOfBounds(ErrForeignWrite, "retirement of %s into %s in a message from %s", g.Replica, g.Into, origin)
		}
		if b.MaxCount != 0 && g.N > b.MaxCount {
			return outOfBounds(ErrCountCeiling, "retirement of %s: %d > %d", g.Replica, g.N, b.MaxCount)
		}
		known := c.Get(g.Replica)
		if bound && b.MaxStep != 0 && g.N > known && g.N-known > b.MaxStep {
			return outOfBounds(ErrCountStep, "retirement of %s: %d → %d, step > %d", g.Replica, known, g.N, b.MaxStep)
		}
		if _, held := searchRetired(c.Gone, g.Replica); !held {
			added++
		}
	}
	return checkReplicas(len(c.S)+len(c.Gone), added, b)
}

// handedOver reports whether g, in a message from origin, is origin
// handing over a record this counter holds into origin: same N, a later
// generation.
func (c *GCounter) handedOver(g Retirement, origin Replica) bool {
	i, ok := searchRetired(c.Gone, g.Replica)
	if !ok {
		return false
	}
	mine := c.Gone[i]
	return mine.Into == origin && g.N == mine.N && g.Gen > mine.Gen
}

// sanitizeRetired drops the records above b.MaxCount (see Bounded).
func (c *GCounter) sanitizeRetired(b Bounds) int {
	if b.MaxCount == 0 || len(c.Gone) == 0 {
		return 0
	}
	n := len(c.Gone)
	c.Gone = slices.DeleteFunc(c.Gone, func(g Retirement) bool { return g.N > b.MaxCount })
	if len(c.Gone) == 0 {
		c.Gone = nil
	}
	return n - len(c.Gone)
}
