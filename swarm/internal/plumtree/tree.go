package plumtree

import (
	"fmt"
	"slices"
	"time"
)

// Stats counts what a Tree did; every drop has a counter.
type Stats struct {
	Broadcasts     uint64 // made here
	Delivered      uint64 // received for the first time
	Duplicates     uint64 // received again (each answered by a Prune)
	GraftsSent     uint64
	GraftsMissed   uint64 // grafts for an id whose payload is gone
	GraftGiveUps   uint64 // missing ids given up after MaxGrafts grafts, or with no announcer left
	Reannounced    uint64 // announcements repeated to a silent lazy peer
	UnackedDropped uint64 // announcements not watched for an answer: MaxUnacked reached
	GoneDropped    uint64 // neighbours that went down forgotten (PeerUp will not re-link them): maxGone reached
	MissingDropped uint64 // announcements ignored: MaxMissing reached
	CacheEvictions uint64 // payloads dropped to stay in MaxCacheBytes
}

// Tree is one node's Plumtree state. It is not safe for concurrent use:
// the caller serialises calls (swarm holds a mutex). No method blocks or
// allocates goroutines; every method taking now uses it as the current
// time, so a test drives the machine on a timeline of fixed instants.
type Tree struct {
	cfg      Config
	seq      uint64
	view     map[Peer]struct{}
	eager    map[Peer]struct{}
	lazy     map[Peer]struct{}
	received receivedSet
	missing  missingSet
	// pendingIHave holds, per lazy peer, the announcements not sent yet;
	// they leave at lazyDue.
	pendingIHave map[Peer][]Announcement
	// pendingAgain holds, per lazy peer, the announcements to repeat;
	// they leave with the next batch, in an IHave of Round 1, which the
	// peer answers.
	pendingAgain map[Peer][]Announcement
	lazyDue      time.Time
	unacked      unackedSet
	// gone holds the neighbours that went down, for PeerUp; goneOrder
	// is their order, oldest first (it may hold ones PeerUp took).
	gone       map[Peer]struct{}
	goneOrder  []Peer
	out        []Message
	stats      Stats
	floorSweep time.Time // when expired floors were last forgotten
	nextHello  time.Time // when the view is next told (Hello)
}

// New returns a Tree with no neighbours.
func New(cfg Config) (*Tree, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Tree{
		cfg:          cfg,
		view:         make(map[Peer]struct{}),
		eager:        make(map[Peer]struct{}),
		lazy:         make(map[Peer]struct{}),
		received:     newReceivedSet(),
		missing:      newMissingSet(),
		pendingIHave: make(map[Peer][]Announcement),
		pendingAgain: make(map[Peer][]Announcement),
		unacked:      newUnackedSet(),
		gone:         make(map[Peer]struct{}),
	}, nil
}

// Broadcast makes a new broadcast of payload from this node: it is pushed
// to the eager peers and announced to the lazy ones. The machine keeps
// payload (for grafts) and never modifies it. It returns the broadcast's
// id.
func (t *Tree) Broadcast(now time.Time, payload []byte) ID {
	t.seq++
	id := ID{Origin: t.cfg.Origin, Seq: t.seq}
	t.remember(now, id, 0, payload)
	t.stats.Broadcasts++
	t.push(now, id, 0, payload, "", nil)
	return id
}

// Step processes one message from a peer. It returns the payload to
// deliver when the message brought a broadcast for the first time, and
// ErrInvalidMessage for a message no correct peer sends (the caller
// counts it; the state is unchanged).
func (t *Tree) Step(now time.Time, m Message) (payload []byte, deliver bool, err error) {
	if m.From == "" || m.From == t.cfg.Self {
		return nil, false, fmt.Errorf("%w: %s from %q", ErrInvalidMessage, m.Kind, m.From)
	}
	t.expire(now)
	switch m.Kind {
	case Gossip:
		if m.ID.Origin == "" {
			return nil, false, fmt.Errorf("%w: gossip without an id from %s", ErrInvalidMessage, m.From)
		}
		return t.onGossip(now, m)
	case IHave:
		t.onIHave(now, m)
	case Graft:
		t.onGraft(now, m)
	case Prune:
		t.setLazy(m.From)
	case Hello:
		_, eager := t.eager[m.From]
		_, lazy := t.lazy[m.From]
		if !eager && !lazy {
			t.lazy[m.From] = struct{}{}
		}
	default:
		return nil, false, fmt.Errorf("%w: kind %d from %s", ErrInvalidMessage, m.Kind, m.From)
	}
	return nil, false, nil
}

func (t *Tree) onGossip(now time.Time, m Message) ([]byte, bool, error) {
	t.unacked.answered(m.From, m.ID)
	if t.seen(m.ID) {
		// A second copy: the link it came over is redundant.
		t.stats.Duplicates++
		t.setLazy(m.From)
		t.send(Message{Kind: Prune, To: m.From})
		return nil, false, nil
	}
	t.stats.Delivered++
	var announcers []source
	if e := t.missing.byID[m.ID]; e != nil {
		announcers = e.sources
		delete(t.missing.byID, m.ID) // its timer goes stale
	}
	t.remember(now, m.ID, m.Round, m.Payload)
	t.setEager(m.From)
	t.push(now, m.ID, m.Round+1, m.Payload, m.From, announcers)
	return m.Payload, true, nil
}

// onIHave records the announced ids this node misses (their graft timers
// start) and takes every announced id as the sender's answer to this
// node's own announcement of it. A repeated announcement (Round > 0) is
// answered at once with an IHave of the ids this node has, so that its
// sender stops repeating them.
func (t *Tree) onIHave(now time.Time, m Message) {
	var answer []Announcement
	for i, a := range m.Announcements {
		if i >= t.cfg.MaxAnnouncements {
			break
		}
		if a.ID.Origin == "" {
			continue
		}
		t.unacked.answered(m.From, a.ID)
		if t.seen(a.ID) {
			if m.Round > 0 {
				answer = append(answer, Announcement{ID: a.ID})
			}
			continue
		}
		e := t.missing.byID[a.ID]
		if e == nil {
			if len(t.missing.byID) >= t.cfg.MaxMissing {
				t.stats.MissingDropped++
				continue
			}
			e = &missingID{id: a.ID}
			t.missing.byID[a.ID] = e
			t.missing.schedule(e, now.Add(t.cfg.GraftTimeout))
		}
		if len(e.sources) < maxSources && !slices.ContainsFunc(e.sources, func(s source) bool { return s.peer == m.From }) {
			e.sources = append(e.sources, source{peer: m.From, round: a.Round})
		}
	}
	if len(answer) > 0 {
		t.send(Message{Kind: IHave, To: m.From, Announcements: answer})
	}
}

func (t *Tree) onGraft(now time.Time, m Message) {
	t.setEager(m.From)
	if m.ID.Origin == "" {
		return // a new neighbour linking itself
	}
	t.unacked.answered(m.From, m.ID)
	r := t.received.get(m.ID)
	if r == nil || r.payload == nil {
		t.stats.GraftsMissed++
		return
	}
	t.send(Message{Kind: Gossip, To: m.From, ID: r.id, Round: r.round + 1, Payload: r.payload})
}

// graftRetry is the wait after e's latest graft: GraftRetry over the first
// round of its announcers, doubled after each round, at most MaxGraftRetry.
func (t *Tree) graftRetry(e *missingID) time.Duration {
	d := t.cfg.GraftRetry
	for r := e.rounds; r > 0 && d < t.cfg.MaxGraftRetry; r-- {
		d *= 2
	}
	return min(d, t.cfg.MaxGraftRetry)
}

// Tick runs the timers due at now: grafts for ids still missing,
// announcements repeated to silent peers, and the batched announcements.
// Call it at Next (earlier is harmless).
func (t *Tree) Tick(now time.Time) {
	t.expire(now)
	for e := t.missing.due(now); e != nil; e = t.missing.due(now) {
		if len(e.sources) == 0 || e.grafts >= t.cfg.MaxGrafts {
			delete(t.missing.byID, e.id)
			t.stats.GraftGiveUps++
			continue
		}
		s := e.nextSource()
		e.grafts++
		t.setEager(s.peer)
		t.stats.GraftsSent++
		t.send(Message{Kind: Graft, To: s.peer, ID: e.id, Round: s.round})
		t.missing.schedule(e, now.Add(t.graftRetry(e)))
	}
	for k, e, ok := t.unacked.due(now); ok; k, e, ok = t.unacked.due(now) {
		t.reannounce(now, k, e)
	}
	if !t.lazyDue.IsZero() && !now.Before(t.lazyDue) {
		t.flushAnnouncements()
	}
	if t.nextHello.IsZero() {
		// The first Tick starts the hello timer; SetView's linking
		// grafts are the first hello.
		t.nextHello = now.Add(t.cfg.HelloInterval)
	} else if !now.Before(t.nextHello) {
		for _, p := range sortedPeers(t.view) {
			t.send(Message{Kind: Hello, To: p})
		}
		t.nextHello = now.Add(t.cfg.HelloInterval)
	}
}

// Next returns when Tick must next run, and false when no timer is set
// (Hellos start at the first Tick; a node with no view sends none).
func (t *Tree) Next() (time.Time, bool) {
	d, ok := t.missing.next()
	if u, uok := t.unacked.next(); uok && (!ok || u.Before(d)) {
		d, ok = u, true
	}
	if !t.lazyDue.IsZero() && (!ok || t.lazyDue.Before(d)) {
		d, ok = t.lazyDue, true
	}
	if len(t.view) > 0 && !t.nextHello.IsZero() && (!ok || t.nextHello.Before(d)) {
		d, ok = t.nextHello, true
	}
	return d, ok
}

// Ready returns the messages to send, in order, and forgets them. The
// caller owns the returned slice; payloads are shared and read-only.
func (t *Tree) Ready() []Message {
	out := t.out
	t.out = nil
	return out
}

// SetView replaces the node's own choice of neighbours (its partial view
// of the membership). A peer new to the view becomes eager and is sent a
// linking Graft, so that the link is eager at both ends; a peer gone from
// the view is dropped as by PeerDown. Peers that chose this node stay
// neighbours whatever the view.
func (t *Tree) SetView(peers []Peer) {
	next := make(map[Peer]struct{}, len(peers))
	for _, p := range peers {
		if p == t.cfg.Self || p == "" {
			continue
		}
		next[p] = struct{}{}
		if _, ok := t.view[p]; !ok {
			t.setEager(p)
			t.send(Message{Kind: Graft, To: p})
		}
	}
	for p := range t.view {
		if _, ok := next[p]; !ok {
			t.PeerDown(p)
		}
	}
	t.view = next
}

// PeerDown forgets a peer that failed or left: it is no neighbour any
// more, and its announcements are not waited for. Missing ids it alone
// announced are given up at their timer (anti-entropy repairs them). If it
// was eager, one lazy peer is grafted in its place.
func (t *Tree) PeerDown(p Peer) {
	_, wasEager := t.eager[p]
	_, wasLazy := t.lazy[p]
	if wasEager || wasLazy {
		t.rememberGone(p)
	}
	delete(t.view, p)
	delete(t.eager, p)
	delete(t.lazy, p)
	delete(t.pendingIHave, p)
	delete(t.pendingAgain, p)
	t.missing.dropPeer(p)
	t.unacked.dropPeer(p)
	if wasEager && len(t.lazy) > 0 {
		// p may have been this node's way to the rest of the tree: link
		// one lazy peer eagerly at once rather than wait for an
		// announcement (with LazyFanout, one may be long in coming). A
		// redundant link is pruned by the next duplicate.
		lazy := sortedPeers(t.lazy)
		q := lazy[announceHash(ID{Origin: string(p)})%uint64(len(lazy))]
		t.setEager(q)
		t.send(Message{Kind: Graft, To: q})
	}
}

// PeerUp tells the machine that p, which had failed, is alive again (a
// false failure: memberlist's member refuted it). If p was a neighbour
// when it went down, it is a lazy neighbour again: p never dropped this
// node, and without the link it would hear of nothing from here until
// its next Hello.
func (t *Tree) PeerUp(p Peer) {
	if _, ok := t.gone[p]; !ok || p == t.cfg.Self {
		return
	}
	delete(t.gone, p)
	if _, eager := t.eager[p]; !eager {
		t.lazy[p] = struct{}{}
	}
}

// rememberGone keeps p among the neighbours that went down, for PeerUp;
// the oldest is forgotten past maxGone.
func (t *Tree) rememberGone(p Peer) {
	if _, ok := t.gone[p]; ok {
		return
	}
	for len(t.gone) >= maxGone && len(t.goneOrder) > 0 {
		old := t.goneOrder[0]
		t.goneOrder = t.goneOrder[1:]
		if _, ok := t.gone[old]; ok {
			delete(t.gone, old)
			t.stats.GoneDropped++
		}
	}
	t.gone[p] = struct{}{}
	t.goneOrder = append(t.goneOrder, p)
	if len(t.goneOrder) > 2*maxGone {
		// Entries PeerUp took are still in the order: keep only the live.
		live := t.goneOrder[:0]
		for _, q := range t.goneOrder {
			if _, ok := t.gone[q]; ok {
				live = append(live, q)
			}
		}
		clear(t.goneOrder[len(live):])
		t.goneOrder = live
	}
}

// maxGone bounds the neighbours remembered after they went down.
const maxGone = 1024

// Eager returns the eager peers, sorted; Lazy the lazy ones.
func (t *Tree) Eager() []Peer { return sortedPeers(t.eager) }

// Lazy returns the lazy peers, sorted.
func (t *Tree) Lazy() []Peer { return sortedPeers(t.lazy) }

// Stats returns the machine's counters.
func (t *Tree) Stats() Stats { return t.stats }

// Missing returns how many announced ids are waiting for their broadcast.
func (t *Tree) Missing() int { return len(t.missing.byID) }

// CacheBytes returns the bytes of payloads kept for grafts.
func (t *Tree) CacheBytes() int { return t.received.cacheBytes }

func sortedPeers(s map[Peer]struct{}) []Peer {
	out := make([]Peer, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (t *Tree) seen(id ID) bool {
	if id.Origin == t.cfg.Origin {
		return true // this node's own broadcasts come back only as duplicates
	}
	return t.received.seen(id)
}

func (t *Tree) remember(now time.Time, id ID, round uint32, payload []byte) {
	t.received.add(&record{id: id, at: now, round: round, payload: payload})
	t.stats.CacheEvictions += uint64(t.received.evictPayloads(t.cfg.MaxCacheBytes))
	t.received.expire(now.Add(-t.cfg.Retention), t.cfg.MaxRecords, now)
}

// push sends a broadcast whole to the eager peers and announces it to the
// lazy ones, except the peer it came from, and waits for the answer of
// each lazy peer not among announcers (those that announced it here
// have it).
func (t *Tree) push(now time.Time, id ID, round uint32, payload []byte, from Peer, announcers []source) {
	for _, p := range sortedPeers(t.eager) {
		if p != from {
			t.send(Message{Kind: Gossip, To: p, ID: id, Round: round, Payload: payload})
		}
	}
	lazy := make([]Peer, 0, len(t.lazy))
	for _, p := range sortedPeers(t.lazy) {
		if p != from {
			lazy = append(lazy, p)
		}
	}
	if k := t.cfg.LazyFanout; k > 0 && len(lazy) > k {
		// A window of k peers starting at a place that depends on the id,
		// so that successive broadcasts are announced to different peers.
		start := int(announceHash(id) % uint64(len(lazy)))
		lazy = append(lazy[start:], lazy[:start]...)[:k]
	}
	for _, p := range lazy {
		t.pendingIHave[p] = append(t.pendingIHave[p], Announcement{ID: id, Round: round})
		if t.cfg.ReannounceAfter > 0 && !slices.ContainsFunc(announcers, func(s source) bool { return s.peer == p }) {
			if !t.unacked.schedule(ackKey{peer: p, id: id}, now.Add(t.cfg.ReannounceAfter), 0, t.cfg.MaxUnacked) {
				t.stats.UnackedDropped++
			}
		}
	}
	if len(lazy) > 0 && t.lazyDue.IsZero() {
		t.lazyDue = now.Add(t.cfg.LazyInterval)
	}
}

// announceHash mixes an id (FNV-1a of the origin, then the sequence).
func announceHash(id ID) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id.Origin); i++ {
		h = (h ^ uint64(id.Origin[i])) * 1099511628211
	}
	return (h ^ id.Seq) * 1099511628211
}

// reannounce tells a silent peer again of an id it was told of, unless
// the peer is no neighbour any more or the payload is gone (a graft could
// not be answered), and waits for its answer again.
func (t *Tree) reannounce(now time.Time, k ackKey, e ackEntry) {
	_, eager := t.eager[k.peer]
	_, lazy := t.lazy[k.peer]
	r := t.received.get(k.id)
	if !eager && !lazy || r == nil || r.payload == nil {
		return
	}
	t.stats.Reannounced++
	t.pendingAgain[k.peer] = append(t.pendingAgain[k.peer], Announcement{ID: k.id, Round: r.round})
	if t.lazyDue.IsZero() || now.Before(t.lazyDue) {
		t.lazyDue = now // the repeat has waited long enough
	}
	if e.tries+1 < t.cfg.MaxReannounces {
		if !t.unacked.schedule(k, now.Add(t.cfg.ReannounceAfter), e.tries+1, t.cfg.MaxUnacked) {
			t.stats.UnackedDropped++
		}
	}
}

// flushAnnouncements sends the batched IHaves, at most MaxAnnouncements
// ids per message, to every neighbour they were meant for (one made eager
// since still gets them: it may have missed the broadcast); repeated
// announcements go in IHaves of Round 1, which the receiver answers.
func (t *Tree) flushAnnouncements() {
	for round, pending := range []map[Peer][]Announcement{t.pendingIHave, t.pendingAgain} {
		peers := make([]Peer, 0, len(pending))
		for p := range pending {
			peers = append(peers, p)
		}
		slices.Sort(peers)
		for _, p := range peers {
			anns := pending[p]
			for len(anns) > 0 {
				k := min(len(anns), t.cfg.MaxAnnouncements)
				t.send(Message{Kind: IHave, To: p, Round: uint32(round), Announcements: anns[:k:k]})
				anns = anns[k:]
			}
		}
		clear(pending)
	}
	t.lazyDue = time.Time{}
}

func (t *Tree) setEager(p Peer) {
	t.eager[p] = struct{}{}
	delete(t.lazy, p)
}

func (t *Tree) setLazy(p Peer) {
	delete(t.eager, p)
	t.lazy[p] = struct{}{}
}

func (t *Tree) send(m Message) {
	m.From = t.cfg.Self
	t.out = append(t.out, m)
}

func (t *Tree) expire(now time.Time) {
	cutoff := now.Add(-t.cfg.Retention)
	t.received.expire(cutoff, t.cfg.MaxRecords, now)
	if now.Sub(t.floorSweep) > t.cfg.Retention {
		t.floorSweep = now
		t.received.expireFloors(now.Add(-t.cfg.Retention))
	}
}
