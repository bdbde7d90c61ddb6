package crdt

import "time"

// Entry TTLs. SetTTLAt writes an entry that dies at TS.Wall+TTL: its
// timestamp's wall time plus the TTL it carries on the wire, so every
// replica computes the same instant from the entry alone, without
// coordination (each reads it against its own clock, so replicas agree up
// to their clock skew). From that instant the entry reads as absent
// (GetAt, LenAt, RangeAt) and, when ExpireSome reaches it, becomes a
// tombstone with the same timestamp: an older write arriving late still
// loses to it, for the TombstoneTTL after the deadline, exactly as to a
// delete made at that instant; a newer write wins as usual.

// deadline returns the instant e died: its TS.Wall plus its TTL, or its
// TS.Wall if it has no TTL (a tombstone dies when it is written).
func (e *LWWEntry[K, V]) deadline() int64 {
	if e.TTL <= 0 {
		return e.TS.Wall
	}
	return satAddInt64(e.TS.Wall, int64(e.TTL))
}

// expired reports whether e has a TTL that has run out at now (Unix ns).
func (e *LWWEntry[K, V]) expired(now int64) bool {
	return e.TTL > 0 && e.deadline() <= now
}

// aliveAt reports whether e reads as present at now (Unix ns).
func (e *LWWEntry[K, V]) aliveAt(now int64) bool {
	return !e.Deleted && !e.expired(now)
}

// SetTTLAt sets k to v at wall time now, to live for ttl: from the
// write's timestamp plus ttl on, k reads as absent on every replica. A
// ttl of zero or less sets k without expiry, as SetAt does.
func (m *LWWMap[K, V]) SetTTLAt(now time.Time, k K, v V, ttl time.Duration) {
	m.write(now, k, v, false, ttl)
}

// GetAt returns the value of k as read at now: ok is false if k is
// absent, deleted or past its TTL.
func (m *LWWMap[K, V]) GetAt(now time.Time, k K) (v V, ok bool) {
	if it, found := m.get(k); found && it.aliveAt(now.UnixNano()) {
		return it.Value, true
	}
	return v, false
}

// LenAt returns the number of keys that read as present at now. On a
// local state it costs O(1) plus O(log n) per entry past its TTL that
// ExpireSome has not turned into a tombstone yet (it finds them in the
// expiry heap); on a wire state O(n).
func (m *LWWMap[K, V]) LenAt(now time.Time) int {
	nowN := now.UnixNano()
	if m.tree == nil {
		n := 0
		for i := range m.E {
			if m.E[i].aliveAt(nowN) {
				n++
			}
		}
		return n
	}
	// Every live entry past its TTL is queued at its deadline (≤ now), so
	// it is in the part of the heap due by now: walk that part only.
	expired := 0
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(m.tombs) || m.tombs[i].wall > nowN {
			continue
		}
		t := m.tombs[i]
		if it, found := m.get(t.key); found && it.queued && it.at == t.wall && !it.Deleted && it.expired(nowN) {
			expired++
		}
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return m.live - expired
}

// RangeAt calls fn for each key that reads as present at now, in
// ascending order, until fn returns false. fn must not modify the map. It
// costs O(log n) plus the entries visited, tombstones included.
func (m *LWWMap[K, V]) RangeAt(now time.Time, fn func(k K, v V, ts Timestamp) bool) {
	nowN := now.UnixNano()
	m.ascend(func(e *LWWEntry[K, V]) bool { return !e.aliveAt(nowN) || fn(e.Key, e.Value, e.TS) })
}
