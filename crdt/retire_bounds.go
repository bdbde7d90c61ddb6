package crdt

// Bounds on retirement records (see "Records from a hostile peer" in
// docs/DESIGN.md). Every legitimate write of a record is made by its Into
// (fold, re-home, commit, adopt), so a bound message may carry only records
// whose Into is its origin. A record's N needs the bounds of a slot (a
// forged record of a live replica with a huge N would cover its slot and
// freeze its count); its A is at most N (Validate); a record counts towards
// MaxReplicas; its At, a wall-clock time, must not be past Bounds.MaxTime
// (one far in the future never settles, so it is never forgotten).

// checkRetired checks other's records against c. It returns how many new
// replicas they bring, and how much of retired counts the message commits
// into origin's slot (the raise of A of origin's records), which that
// slot may rise by beyond MaxStep.
func (c *GCounter) checkRetired(other *GCounter, origin Replica, b Bounds) (int, uint64, error) {
	bound := !origin.IsZero()
	added, commit := 0, uint64(0)
	for _, g := range other.Gone {
		if bound && g.Into != origin {
			return 0, 0, outOfBounds(ErrForeignWrite, "retirement of %s into %s in a message from %s", g.Replica, g.Into, origin)
		}
		if b.MaxTime != 0 && g.At > b.MaxTime {
			return 0, 0, outOfBounds(ErrFutureTime, "retirement of %s at %d, after %d", g.Replica, g.At, b.MaxTime)
		}
		var base, mineA uint64
		held := false
		if i, ok := c.search(g.Replica); ok {
			base, held = c.S[i].N, true
		}
		if j, ok := searchRetired(c.Gone, g.Replica); ok {
			base, held, mineA = max(base, c.Gone[j].N), true, c.Gone[j].A
		}
		if err := checkCount(g.Replica, g.N, base, held, bound, b); err != nil {
			return 0, 0, err
		}
		if !held {
			if _, inSlots := slicesSearchSlots(other.S, g.Replica); !inSlots {
				added++
			}
		}
		if g.A > mineA {
			commit = satAdd(commit, g.A-mineA)
		}
	}
	return added, commit, nil
}

func slicesSearchSlots(s []Slot, r Replica) (int, bool) {
	c := GCounter{S: s}
	return c.search(r)
}

// replicaCount returns the number of distinct replicas c holds a slot or
// a record of.
func (c *GCounter) replicaCount() int {
	if len(c.Gone) == 0 {
		return len(c.S)
	}
	n, i, j := 0, 0, 0
	for i < len(c.S) || j < len(c.Gone) {
		switch {
		case j == len(c.Gone) || i < len(c.S) && c.S[i].Replica.Compare(c.Gone[j].Replica) < 0:
			i++
		case i == len(c.S) || c.S[i].Replica.Compare(c.Gone[j].Replica) > 0:
			j++
		default:
			i++
			j++
		}
		n++
	}
	return n
}

// sanitizeRetired drops the records whose N is above b.MaxCount or whose
// At is past b.MaxTime; healthy peers hold them at their true values.
func (c *GCounter) sanitizeRetired(b Bounds) int {
	if len(c.Gone) == 0 {
		return 0
	}
	kept := c.Gone[:0]
	for _, g := range c.Gone {
		if (b.MaxCount == 0 || g.N <= b.MaxCount) && (b.MaxTime == 0 || g.At <= b.MaxTime) {
			kept = append(kept, g)
		}
	}
	dropped := len(c.Gone) - len(kept)
	clear(c.Gone[len(kept):])
	c.Gone = kept
	if len(c.Gone) == 0 {
		c.Gone = nil
	}
	return dropped
}
