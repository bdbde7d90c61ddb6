package plumtree

import "time"

// ackKey names one announcement waiting for its answer: id told to peer.
type ackKey struct {
	peer Peer
	id   ID
}

// ackTimer is a re-announcement deadline in the queue; it is stale when
// its key's entry is gone or has another deadline (the queue deletes
// lazily).
type ackTimer struct {
	deadline time.Time
	key      ackKey
}

// ackEntry is an announcement not answered yet: when to tell the peer
// again, and how often it was told.
type ackEntry struct {
	deadline time.Time
	tries    int
}

// unackedSet holds the announcements made to lazy peers that have shown
// no sign of having the broadcast: neither announced it back, nor pushed
// it, nor grafted it. On a lazy link both ends announce every broadcast,
// so the peer's own announcement is the acknowledgement, and one that
// does not come means that the peer, or its announcement, was lost.
//
// Deadlines are now plus the repeat wait, which changes slowly (it
// follows the graft timeout), so the queue is nearly in deadline order:
// an entry behind a later one (the wait shrank, or the caller's clock went
// back) is only delayed until that one is due.
type unackedSet struct {
	byKey map[ackKey]ackEntry
	queue []ackTimer // queue[head:] is live
	head  int
}

func newUnackedSet() unackedSet { return unackedSet{byKey: make(map[ackKey]ackEntry)} }

// schedule waits for p's answer until deadline; it reports false, and
// changes nothing, when max announcements are waiting already (or the
// queue, answered entries included, holds twice that).
func (u *unackedSet) schedule(k ackKey, deadline time.Time, tries, max int) bool {
	if _, ok := u.byKey[k]; !ok && len(u.byKey) >= max || len(u.queue)-u.head >= 2*max {
		return false
	}
	u.byKey[k] = ackEntry{deadline: deadline, tries: tries}
	u.queue = append(u.queue, ackTimer{deadline: deadline, key: k})
	return true
}

// answered forgets the announcement of id to p: p has shown it knows id.
func (u *unackedSet) answered(p Peer, id ID) { delete(u.byKey, ackKey{peer: p, id: id}) }

// next returns the earliest live deadline, dropping stale timers.
func (u *unackedSet) next() (time.Time, bool) {
	for u.head < len(u.queue) {
		t := u.queue[u.head]
		if e, ok := u.byKey[t.key]; ok && e.deadline.Equal(t.deadline) {
			return t.deadline, true
		}
		u.queue[u.head] = ackTimer{}
		u.head++
	}
	u.compact()
	return time.Time{}, false
}

// due pops the earliest announcement due at now, if any, and forgets it;
// the caller reschedules it if it tells the peer again.
func (u *unackedSet) due(now time.Time) (ackKey, ackEntry, bool) {
	d, ok := u.next()
	if !ok || d.After(now) {
		return ackKey{}, ackEntry{}, false
	}
	t := u.queue[u.head]
	u.queue[u.head] = ackTimer{}
	u.head++
	e := u.byKey[t.key]
	delete(u.byKey, t.key)
	u.compact()
	return t.key, e, true
}

// compact drops the queue's dead prefix once it is most of it.
func (u *unackedSet) compact() {
	if u.head > 1024 && u.head > len(u.queue)/2 {
		live := copy(u.queue, u.queue[u.head:])
		clear(u.queue[live:])
		u.queue = u.queue[:live]
		u.head = 0
	}
	if u.head == len(u.queue) {
		u.queue, u.head = u.queue[:0], 0
	}
}

// dropPeer forgets every announcement to p (its timers go stale).
func (u *unackedSet) dropPeer(p Peer) {
	for k := range u.byKey {
		if k.peer == p {
			delete(u.byKey, k)
		}
	}
}
