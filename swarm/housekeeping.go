package swarm

import "time"

// housekeepInterval is how often the node runs each value's housekeeping
// (incremental expiry of idle keys).
const housekeepInterval = time.Second

// housekeepLoop calls every value's housekeep function once per
// housekeepInterval, each under its value's lock. A housekeep function
// does a bounded slice of work per call (a page of keys), so the lock
// that memberlist's callbacks also need is held briefly whatever the
// size of the value.
func (n *Node) housekeepLoop() {
	defer n.wg.Done()
	t := time.NewTicker(housekeepInterval)
	defer t.Stop()
	var entries []*entry
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		entries = entries[:0]
		n.valuesMu.RLock()
		for _, e := range n.values {
			entries = append(entries, e)
		}
		n.valuesMu.RUnlock()
		for _, e := range entries {
			e.mu.Lock()
			if e.housekeep != nil {
				e.housekeep()
			}
			e.mu.Unlock()
		}
	}
}
