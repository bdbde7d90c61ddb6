package plumtree

import (
	"container/heap"
	"time"
)

// maxSources bounds the announcers remembered per missing id: a graft
// goes to one at a time, and a few spares are enough.
const maxSources = 8

// source is a peer that announced a missing id, and the round it gave.
type source struct {
	peer  Peer
	round uint32
}

// missingID is an id announced to this node but not yet received: the
// paper's "missing" entries and timer for one id.
type missingID struct {
	id       ID
	deadline time.Time
	// announced is when the first announcement came.
	announced time.Time
	sources   []source
	// next is the index in sources of the next announcer to graft: they
	// are grafted in turn, and again from the first after the last, so a
	// lost graft or a lost answer is retried; grafts counts them, and
	// rounds the times the turn came back to the first.
	next   int
	grafts int
	rounds int
}

// timer is a graft deadline in the heap; it is stale when its id's entry
// is gone or has a different deadline (the heap deletes lazily).
type timer struct {
	deadline time.Time
	id       ID
}

type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// missingSet holds the missing ids and their graft timers.
type missingSet struct {
	byID   map[ID]*missingID
	timers timerHeap
}

func newMissingSet() missingSet { return missingSet{byID: make(map[ID]*missingID)} }

func (m *missingSet) schedule(e *missingID, deadline time.Time) {
	e.deadline = deadline
	heap.Push(&m.timers, timer{deadline: deadline, id: e.id})
}

// next returns the earliest live deadline, dropping stale timers.
func (m *missingSet) next() (time.Time, bool) {
	for len(m.timers) > 0 {
		t := m.timers[0]
		if e := m.byID[t.id]; e != nil && e.deadline.Equal(t.deadline) {
			return t.deadline, true
		}
		heap.Pop(&m.timers)
	}
	return time.Time{}, false
}

// due pops and returns the entry whose timer is earliest, if it is due at
// now.
func (m *missingSet) due(now time.Time) *missingID {
	d, ok := m.next()
	if !ok || d.After(now) {
		return nil
	}
	t := heap.Pop(&m.timers).(timer)
	return m.byID[t.id]
}

// dropPeer forgets every announcement from p.
func (m *missingSet) dropPeer(p Peer) {
	for _, e := range m.byID {
		keep := e.sources[:0]
		for i, s := range e.sources {
			if s.peer != p {
				keep = append(keep, s)
			} else if i < e.next {
				e.next--
			}
		}
		clear(e.sources[len(keep):])
		e.sources = keep
	}
}

// grafted reports whether p was grafted for e.
func (e *missingID) grafted(p Peer) bool {
	n := e.next
	if e.rounds > 0 {
		n = len(e.sources)
	}
	for _, s := range e.sources[:min(n, len(e.sources))] {
		if s.peer == p {
			return true
		}
	}
	return false
}

// nextSource returns the announcer to graft next, in turn.
func (e *missingID) nextSource() source {
	if e.next >= len(e.sources) {
		e.next = 0
		e.rounds++
	}
	s := e.sources[e.next]
	e.next++
	return s
}
