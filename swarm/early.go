package swarm

import (
	"sync"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// A node that starts (or restarts, at a new incarnation) sends its first
// deltas directly to the members it knows, while memberlist's gossip of
// its arrival is still on its way to them. A receiver that has not heard
// of the new replica yet may not merge its deltas (checkOrigin), so it
// holds them here until the announcement arrives, for at most
// earlyHoldGossips gossip intervals, instead of refusing them and leaving
// them to the origin's next delta of the same value or to anti-entropy (a
// whole PushPullInterval, 30 s by default, later). In the soak (10 nodes,
// a restart every 6 s) it merged 2,311 such deltas in 110 restarts
// (docs/soak.md, run 12).

// Reason for Stats.Drops: a delta held for an origin not yet announced,
// evicted or refused to stay within Config.MaxEarlyBytes.
const dropEarlyBytes = "early_bytes"

// earlyHoldGossips is how many gossip intervals a delta waits for its
// origin's announcement: 5 s by default, 1.25 s with DefaultLocalConfig.
// memberlist spreads a join in about GossipInterval·log(N) (under a second
// at 1,000 members by default), so a delta still unclaimed after the hold
// is from no replica that will be announced: it is refused then, as
// origin_not_member.
const earlyHoldGossips = 25

// earlyOverhead is what one held delta costs beside its payload and
// strings: the envelope, its queue slot and its origin's count.
const earlyOverhead = 160

// earlyDelta is one delta held for its origin's announcement.
type earlyDelta struct {
	env     codec.Envelope
	forward bool // relay what it changes, as on arrival
	at      time.Time
	size    int
}

// earlyStore holds deltas whose origin is not announced yet. A peer can
// fill it with deltas of made-up replicas, so it is bounded in bytes
// (Config.MaxEarlyBytes; the oldest go first, each counted in
// Stats.Drops["early_bytes"]) and in time (the hold). put and release are
// O(1) unless the origin has deltas held; release then scans the queue
// once, which the byte bound keeps to a few tens of thousands of entries.
type earlyStore struct {
	mu       sync.Mutex
	maxBytes int
	hold     time.Duration
	bytes    int                  // held and released, until the loop takes them
	queue    []earlyDelta         // held, in arrival order
	count    map[crdt.Replica]int // held deltas per origin
	ready    []earlyDelta         // released by their origin's announcement
	signal   chan struct{}        // ready is not empty
	drop     func(reason string)
}

func newEarlyStore(maxBytes int, hold time.Duration, drop func(string)) *earlyStore {
	return &earlyStore{maxBytes: maxBytes, hold: hold, count: make(map[crdt.Replica]int),
		signal: make(chan struct{}, 1), drop: drop}
}

// put holds a copy of env until release(env.Origin), making room by
// evicting the oldest deltas. It returns the deltas whose hold has passed
// (the caller refuses them) and whether env was held: a delta larger than
// the whole bound is not (counted as a drop).
func (s *earlyStore) put(env *codec.Envelope, forward bool, now time.Time) (expired []earlyDelta, held bool) {
	size := len(env.Payload) + len(env.Name) + len(env.Type) + len(env.Origin.Node) + earlyOverhead
	if size > s.maxBytes {
		s.drop(dropEarlyBytes)
		return nil, false
	}
	c := *env
	c.Payload = append([]byte(nil), env.Payload...)
	s.mu.Lock()
	defer s.mu.Unlock()
	expired = s.expireLocked(now)
	for s.bytes+size > s.maxBytes && len(s.queue) > 0 {
		s.popLocked()
		s.drop(dropEarlyBytes)
	}
	if s.bytes+size > s.maxBytes { // the rest is released and not yet merged
		s.drop(dropEarlyBytes)
		return expired, false
	}
	s.queue = append(s.queue, earlyDelta{env: c, forward: forward, at: now, size: size})
	s.count[c.Origin]++
	s.bytes += size
	return expired, true
}

// popLocked removes the oldest held delta.
func (s *earlyStore) popLocked() earlyDelta {
	d := s.queue[0]
	s.queue[0] = earlyDelta{}
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = nil // give a burst's array back
	}
	if s.count[d.env.Origin]--; s.count[d.env.Origin] == 0 {
		delete(s.count, d.env.Origin)
	}
	s.bytes -= d.size
	return d
}

// expire removes and returns the deltas held for longer than the hold.
func (s *earlyStore) expire(now time.Time) []earlyDelta {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expireLocked(now)
}

func (s *earlyStore) expireLocked(now time.Time) []earlyDelta {
	var out []earlyDelta
	for len(s.queue) > 0 && now.Sub(s.queue[0].at) >= s.hold {
		out = append(out, s.popLocked())
	}
	return out
}

// release moves the deltas held for r to the ready list and signals the
// node's early loop. It is called from memberlist's callbacks: it takes
// only the store's lock and never waits.
func (s *earlyStore) release(r crdt.Replica) {
	s.mu.Lock()
	if s.count[r] == 0 {
		s.mu.Unlock()
		return
	}
	keep := s.queue[:0]
	for _, d := range s.queue {
		if d.env.Origin == r {
			s.ready = append(s.ready, d)
			continue
		}
		keep = append(keep, d)
	}
	clear(s.queue[len(keep):])
	s.queue = keep
	delete(s.count, r)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// takeReady removes and returns the released deltas.
func (s *earlyStore) takeReady() []earlyDelta {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.ready
	s.ready = nil
	for _, d := range out {
		s.bytes -= d.size
	}
	return out
}

// usage returns how many deltas are held or released and not yet merged,
// and their bytes.
func (s *earlyStore) usage() (deltas, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) + len(s.ready), s.bytes
}

// park holds env, a delta checkOrigin refused because its origin is not
// announced yet, and reports whether it did. The origin may have been
// announced since the check: then it is released at once.
func (n *Node) park(env *codec.Envelope, forward bool) bool {
	if n.early == nil {
		return false
	}
	expired, held := n.early.put(env, forward, n.now())
	n.refuseEarly(expired)
	if held && n.checkOrigin(env.Origin) == nil {
		n.early.release(env.Origin)
	}
	return held
}

// refuseEarly counts as refused the deltas whose origin was never
// announced within the hold.
func (n *Node) refuseEarly(ds []earlyDelta) {
	for i := range ds {
		n.rejectValue(&ds[i].env, errOriginNotMember, "rejected a delta whose origin was not announced in time")
	}
}

// earlyLoop merges the deltas their origin's announcement released, and
// refuses those whose hold passed.
func (n *Node) earlyLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.early.hold / 4)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.refuseEarly(n.early.expire(n.now()))
		case <-n.early.signal:
			for _, d := range n.early.takeReady() {
				n.stats.earlyMerged.Add(1)
				n.receive(&d.env, d.forward, nil)
			}
		}
	}
}
