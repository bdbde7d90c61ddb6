package swarm

import (
	"sync/atomic"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

const (
	// DefaultRetireAfter is Config.RetireAfter in both presets.
	DefaultRetireAfter = time.Hour
	// DefaultRetireHorizon is Config.RetireHorizon in both presets.
	DefaultRetireHorizon = 24 * time.Hour
)

// RetireStats counts replica retirement on a node; see Stats.Retirement.
type RetireStats struct {
	// Rounds counts retirement passes over the node's values.
	Rounds uint64
	// Changes counts values a pass changed (a fold, a commit, a
	// refresh), each sent to the peers as a delta.
	Changes uint64
	// MembersForgotten counts members dropped from the member table
	// after being gone for RetireAfter.
	MembersForgotten uint64
	// HandedOver counts values whose uncommitted records this node passed
	// to its successor when it left.
	HandedOver uint64
	// Records is the number of retirement records the node's values held
	// at the end of the last pass, and Uncommitted how many of them were
	// not committed yet.
	Records, Uncommitted uint64
	// OldestUncommitted is how long the oldest uncommitted record had
	// been settling at the last pass. A record commits once it has
	// settled for RetireHorizon, so in a healthy cluster this stays
	// below the horizon plus RetireAfter; far above it, records are
	// being re-homed faster than they settle.
	OldestUncommitted time.Duration
}

type retireCounters struct {
	rounds, changes, forgotten, handedOver atomic.Uint64
	records, uncommitted                   atomic.Uint64
	oldest                                 atomic.Int64
}

func (r *retireCounters) snapshot() RetireStats {
	return RetireStats{
		Rounds: r.rounds.Load(), Changes: r.changes.Load(), MembersForgotten: r.forgotten.Load(), HandedOver: r.handedOver.Load(),
		Records: r.records.Load(), Uncommitted: r.uncommitted.Load(), OldestUncommitted: time.Duration(r.oldest.Load()),
	}
}

// tally keeps the records counted by a complete pass.
func (r *retireCounters) tally(now time.Time, t *crdt.RetireTally) {
	r.records.Store(uint64(t.Records))
	r.uncommitted.Store(uint64(t.Uncommitted))
	var oldest time.Duration
	if t.OldestUncommitted != 0 {
		oldest = max(0, now.Sub(time.Unix(0, t.OldestUncommitted)))
	}
	r.oldest.Store(int64(oldest))
}

// retireMaxFolds bounds the folds of one value in one pass: folding the
// slots of 10,000 replicas that went at once holds the value's lock for
// ~17 ms on a loaded 2-core machine, 256 for ~0.2 ms (go test -bench
// BenchmarkGCounterRetire10k ./crdt, load average 25).
const retireMaxFolds = 256

// retireInterval is how often a node retires: often enough that a live
// replica refreshes its own records well within half a horizon (the
// crdt's requirement), and a gone one is folded soon after RetireAfter,
// but at most every 30 s: a pass visits every value.
func (c *Config) retireInterval() time.Duration {
	return min(c.RetireAfter, c.RetireHorizon)/8 + time.Millisecond
}

func (n *Node) retireLoop() {
	defer n.wg.Done()
	t := time.NewTicker(min(n.cfg.retireInterval(), 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.retireOnce()
		}
	}
}

// retireOnce is one retirement pass: it builds this node's view of who is
// gone from the member table (forgetting members gone for RetireAfter),
// then lets every value that keeps per-replica state fold, commit and
// forget under its own lock, one value at a time, and marks the changed
// ones for the next flush. A value's lock is held for one scan of its
// slots and records and at most retireMaxFolds folds.
func (n *Node) retireOnce() {
	now := n.now()
	view, forgotten := n.members.retireView(now, n.self, n.started, n.cfg.RetireAfter, rehomeGrace(n.cfg.PushPullInterval))
	n.retired.forgotten.Add(uint64(forgotten))
	var tally crdt.RetireTally
	plan := crdt.RetirePlan{Gone: view.gone, Orphaned: view.orphaned, Folder: view.folder == n.self, Horizon: n.cfg.RetireHorizon, MaxFolds: retireMaxFolds, Tally: &tally}

	entries := n.entries()
	for _, e := range entries {
		if n.closed.Load() {
			return
		}
		e.mu.Lock()
		if e.gone.Load() {
			e.mu.Unlock()
			continue
		}
		if e.prepare != nil {
			e.prepare()
		}
		changed := e.a.retire(now, plan)
		e.mu.Unlock()
		if changed {
			n.retired.changes.Add(1)
			e.localUpdate()
		}
	}
	n.retired.tally(now, &tally)
	n.retired.rounds.Add(1)
}

// retireView is a snapshot of the member table for one retirement pass.
type retireView struct {
	members map[string]Member // shared with the table's later views: read only
	self    crdt.Replica
	now     time.Time
	// known is whether this node has run for RetireAfter: only then does
	// an unknown name mean a member gone long enough to be forgotten,
	// rather than one not heard of yet.
	known bool
	after time.Duration
	// grace is how long a record's Into must have been gone before the
	// folder re-homes the record (orphaned).
	grace time.Duration
	// folder is the oldest live replica (smallest incarnation, then
	// name): the member that folds replicas gone without a successor.
	// Oldest, because a rolling deploy replaces the newest last, so
	// records folded into it rarely need a new home.
	folder crdt.Replica
}

// gone reports whether r is no longer a live member's current replica.
func (v *retireView) gone(r crdt.Replica) bool {
	if r == v.self {
		return false
	}
	m, ok := v.members[r.Node]
	if !ok || m.Replica.IsZero() {
		return v.known
	}
	switch {
	case r.Incarnation < m.Replica.Incarnation:
		return true // replaced by a newer run of the same name
	case r.Incarnation > m.Replica.Incarnation:
		return false // a run this node has not heard of yet
	}
	switch m.State {
	case MemberAlive:
		return false
	case MemberLeft:
		return true
	default:
		return v.now.Sub(m.Since) >= v.after
	}
}

// rehomeGrace is how long the folder waits, after a record's Into is
// gone, before it re-homes the record: two anti-entropy intervals. A
// replica that leaves hands its records to its successor in its last
// flush (handOver); a member whose copy of a record was stale refuses that
// delta as a foreign write (it cannot tell a hand-over from a forgery) and
// gets the record by anti-entropy instead, whose full states are checked
// against bounds, not origins. Re-homing before then started the record's
// settle period again at every deploy: in a 20-minute soak with a 2-minute
// horizon, records settled for up to 137 s, and the heap grew. Waiting is
// safe: only the re-home is late, and a record waits for its Into anyway.
// Without anti-entropy there is nothing to wait for.
func rehomeGrace(pushPull time.Duration) time.Duration {
	return 2 * pushPull
}

// orphaned reports whether r is gone and has been for the re-home grace
// (see rehomeGrace): a member unknown to the table, or whose newer run
// replaced r, counts from when the table last saw its state change.
func (v *retireView) orphaned(r crdt.Replica) bool {
	if !v.gone(r) {
		return false
	}
	m, ok := v.members[r.Node]
	if !ok || m.Replica.IsZero() {
		return true
	}
	return v.now.Sub(m.Since) >= v.grace
}

// handOver passes, before Leave's last flush, the retirement records
// folded into this replica and not committed yet to its successor: the
// oldest other live replica, which is the folder once this node is gone
// (crdt.GCounter.HandOver). The records keep their settle time, so that a
// fleet whose replicas are all replaced more often than RetireHorizon
// (frequent deploys) still commits and forgets them; a folder's re-home
// would start the horizon again. The last flush carries the change to
// every member before the leave is announced. It stops at deadline; what
// it does not reach is re-homed by the folder as before.
func (n *Node) handOver(deadline time.Time) {
	to := n.members.successor(n.self)
	if to.IsZero() {
		return
	}
	entries := n.entries()
	for i, e := range entries {
		if i%flushCheckEvery == flushCheckEvery-1 && n.expired(deadline) {
			return
		}
		e.mu.Lock()
		changed := !e.gone.Load() && e.a.handOver(to)
		e.mu.Unlock()
		if changed {
			n.retired.handedOver.Add(1)
		}
	}
}

// successor returns the oldest live replica other than self (smallest
// incarnation, then name), or the zero replica when there is none.
func (m *membership) successor(self crdt.Replica) crdt.Replica {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var best crdt.Replica
	for name, mem := range m.members {
		r := mem.Replica
		if name == self.Node || mem.State != MemberAlive || r.IsZero() {
			continue
		}
		if best.IsZero() || older(r, best) {
			best = r
		}
	}
	return best
}

// older reports whether replica a started before b: the smaller
// incarnation, then the smaller name. The folder is the oldest live
// replica, and a leaver's successor the oldest other one.
func older(a, b crdt.Replica) bool {
	if a.Incarnation != b.Incarnation {
		return a.Incarnation < b.Incarnation
	}
	return a.Node < b.Node
}
