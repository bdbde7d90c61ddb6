package plumtree

import "time"

// record is one broadcast this node has delivered (or made).
type record struct {
	id      ID
	at      time.Time
	round   uint32
	payload []byte // nil once evicted from the cache
	// grafted is set for a broadcast a graft brought (from the grafted
	// peer from), announced to when it was first announced: a later copy
	// from another peer shows the graft was spurious.
	grafted   bool
	from      Peer
	announced time.Time
}

// floor remembers, per origin, the highest sequence number whose record
// has expired: anything at or below it counts as received, so a late copy
// of an old broadcast is not delivered again. A floor is forgotten one
// Retention after it last moved.
type floor struct {
	seq uint64
	at  time.Time
}

// receivedSet is the set of delivered ids with their payloads, in receipt
// order. Payloads are evicted oldest first, so the records that still hold
// one are exactly order[payloadHead:]; ids expire oldest first too.
type receivedSet struct {
	byID        map[ID]*record
	order       []*record // receipt order; order[head:] is live
	head        int
	payloadHead int // order[payloadHead:] hold their payload
	cacheBytes  int
	floors      map[string]floor
}

func newReceivedSet() receivedSet {
	return receivedSet{byID: make(map[ID]*record), floors: make(map[string]floor)}
}

// seen reports whether id was delivered (or is old enough to have been).
func (s *receivedSet) seen(id ID) bool {
	if _, ok := s.byID[id]; ok {
		return true
	}
	f, ok := s.floors[id.Origin]
	return ok && id.Seq <= f.seq
}

func (s *receivedSet) get(id ID) *record { return s.byID[id] }

// add records a delivered id; the caller has checked it was not seen.
func (s *receivedSet) add(r *record) {
	s.byID[r.id] = r
	s.order = append(s.order, r)
	s.cacheBytes += len(r.payload)
}

// evictPayloads drops the oldest payloads until the cache holds at most
// max bytes, and reports how many it dropped.
func (s *receivedSet) evictPayloads(max int) int {
	n := 0
	for s.cacheBytes > max && s.payloadHead < len(s.order) {
		r := s.order[s.payloadHead]
		s.payloadHead++
		if r.payload != nil {
			s.cacheBytes -= len(r.payload)
			r.payload = nil
			n++
		}
	}
	return n
}

// expire forgets the ids received before cutoff, and the oldest ones past
// maxRecords, raising their origins' floors.
func (s *receivedSet) expire(cutoff time.Time, maxRecords int, now time.Time) {
	for s.head < len(s.order) {
		r := s.order[s.head]
		if !r.at.Before(cutoff) && len(s.byID) <= maxRecords {
			break
		}
		s.head++
		if s.payloadHead < s.head {
			s.payloadHead = s.head
		}
		s.cacheBytes -= len(r.payload)
		r.payload = nil
		delete(s.byID, r.id)
		if f := s.floors[r.id.Origin]; r.id.Seq > f.seq || f.at.IsZero() {
			s.floors[r.id.Origin] = floor{seq: max(r.id.Seq, f.seq), at: now}
		}
	}
	// Compact the queue once its dead prefix is most of it.
	if s.head > 1024 && s.head > len(s.order)/2 {
		live := copy(s.order, s.order[s.head:])
		clear(s.order[live:])
		s.order = s.order[:live]
		s.payloadHead -= s.head
		s.head = 0
	}
}

// expireFloors forgets floors that have not moved since cutoff.
func (s *receivedSet) expireFloors(cutoff time.Time) {
	for o, f := range s.floors {
		if f.at.Before(cutoff) {
			delete(s.floors, o)
		}
	}
}
