package swarm

import "time"

// Tombstone expiry. crdt.LWWMap keeps a deleted key's tombstone for its
// TombstoneTTL so that an older write arriving late cannot resurrect the
// key; the node drops due tombstones itself, so a map whose keys are all
// deleted gives its memory back. Each step holds the value's lock for a
// bounded number of tombstones (expireStep: ≤ 0.6 ms at 200,000 keys on
// a loaded 2-core machine, BenchmarkLWWMapExpireSome), so memberlist's
// callbacks never wait long on it.

// expirer is implemented by values whose tombstones expire
// (crdt.LWWMap): ExpireSome drops at most max due tombstones and reports
// whether more are due.
type expirer interface {
	ExpireSome(now time.Time, max int) (dropped int, more bool)
}

const (
	expireEvery = time.Second
	expireStep  = 64
)

// expireLoop drops due tombstones every expireEvery until the node stops.
func (n *Node) expireLoop() {
	defer n.wg.Done()
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.expireTombstones()
		}
	}
}

// expireTombstones runs every value's expiry to completion, one bounded
// step per lock hold.
func (n *Node) expireTombstones() {
	n.valuesMu.RLock()
	var due []*entry
	for _, e := range n.values {
		if cv, ok := e.a.(currentValue); ok {
			if _, ok := cv.current().(expirer); ok {
				due = append(due, e)
			}
		}
	}
	n.valuesMu.RUnlock()
	now := n.now()
	for _, e := range due {
		for more := true; more; {
			select {
			case <-n.stop:
				return
			default:
			}
			var dropped int
			e.mu.Lock()
			if e.gone.Load() {
				e.mu.Unlock()
				break // unshared: its state is released
			}
			x := e.a.(currentValue).current().(expirer)
			dropped, more = x.ExpireSome(now, expireStep)
			if dropped > 0 {
				e.gen.Add(1) // the state's digest hash is stale
			}
			e.mu.Unlock()
			n.stats.tombstonesExpired.Add(uint64(dropped))
		}
	}
}
