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
	OriginsDropped uint64 // origins' trees forgotten to stay in MaxOrigins (their next broadcast starts from the shared tree)
	// NeighboursDropped counts peers not taken as neighbours: MaxNeighbours
	// reached (a hostile sender of Hellos under many names, say).
	NeighboursDropped uint64
	// SpuriousGrafts counts grafts whose broadcast then came over the
	// tree anyway, only late (enough of them raise the graft timeout).
	SpuriousGrafts uint64
}

// Tree is one node's Plumtree state. It is not safe for concurrent use:
// the caller serialises calls (swarm holds a mutex). No method blocks or
// allocates goroutines; every method taking now uses it as the current
// time, so a test drives the machine on a timeline of fixed instants.
type Tree struct {
	cfg  Config
	seq  uint64
	view map[Peer]struct{}
	// nbrs are the neighbours, numbered (see slots). eager holds the
	// eager links of a tree shared by every origin (the others are lazy):
	// each duplicate, graft and prune of any origin shapes it (Plumtree
	// as published). A new origin's tree starts as a copy of it; origins
	// holds each origin's own tree (originTree), which only that origin's
	// broadcasts shape. A link change without an origin (a linking graft,
	// a hello, a neighbour gone) applies to every tree.
	nbrs    slots
	eager   bitset
	origins map[string]*originTree
	// lazyScratch is push's, kept between steps.
	lazyScratch []Peer
	received    receivedSet
	missing     missingSet
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
	gone      map[Peer]struct{}
	goneOrder []Peer
	out       []Message
	stats     Stats
	// graftTimeout is the wait before an announced id is grafted: at
	// least cfg.GraftTimeout, raised to above the lateness of the tree's
	// copies behind announcements when grafts prove spurious, and
	// decaying back (see spurious and settle).
	graftTimeout time.Duration
	raised       time.Time // when graftTimeout was last raised, or halved
	// spuriousSince starts the second in which spuriousCount spurious
	// grafts came, the latest spuriousLate after their announcement.
	spuriousSince time.Time
	spuriousCount int
	spuriousLate  time.Duration
	deliveries    int       // in that second
	floorSweep    time.Time // when expired floors were last forgotten
	nextHello     time.Time // when the view is next told (Hello)
}

// New returns a Tree with no neighbours.
func New(cfg Config) (*Tree, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Tree{
		cfg:          cfg,
		view:         make(map[Peer]struct{}),
		nbrs:         newSlots(),
		origins:      make(map[string]*originTree),
		received:     newReceivedSet(),
		missing:      newMissingSet(),
		pendingIHave: make(map[Peer][]Announcement),
		pendingAgain: make(map[Peer][]Announcement),
		unacked:      newUnackedSet(),
		gone:         make(map[Peer]struct{}),
		graftTimeout: cfg.GraftTimeout,
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

// originTree is one origin's broadcast tree at this node: the neighbours
// its broadcasts are pushed to (eager) and announced to (lazy). Per
// origin, as in riak_core's broadcast, rather than one tree for all: with
// many nodes broadcasting at once over links of varying delay, a tree
// shared by every origin is pruned for one origin's duplicates where
// another origin needed the link, and collapses into grafts (measured in
// TestManyOriginsUnderJitterKeepTheirTrees).
type originTree struct {
	eager bitset // of nbrs' slots; a neighbour not in it is lazy
	used  time.Time
}

// tree returns origin o's tree, a copy of the shared tree if new (rather
// than every link eager: 100 nodes starting to broadcast at once then
// flooded every link), forgetting the least recently used one at
// MaxOrigins.
func (t *Tree) tree(now time.Time, o string) *originTree {
	ot := t.origins[o]
	if ot == nil {
		if len(t.origins) >= t.cfg.MaxOrigins {
			t.forgetOldestOrigin()
		}
		ot = &originTree{eager: slices.Clone(t.eager)}
		t.origins[o] = ot
	}
	ot.used = now
	return ot
}

func (t *Tree) forgetOldestOrigin() {
	var oldest string
	var at time.Time
	first := true
	for o, ot := range t.origins {
		if first || ot.used.Before(at) || ot.used.Equal(at) && o < oldest {
			oldest, at, first = o, ot.used, false
		}
	}
	delete(t.origins, oldest)
	t.stats.OriginsDropped++
}

// link makes p a neighbour whose link is eager (or lazy), in the shared
// tree and in every origin's tree. A new neighbour past MaxNeighbours is
// refused (false), unless view (the node's own choice, at most its view
// size): each costs a bit in every origin's tree, so peers that link
// themselves, or claim to, must not grow them without bound.
func (t *Tree) link(p Peer, eager, view bool) bool {
	i, ok := t.nbrs.slot(p)
	if !ok {
		if !view && t.nbrs.len() >= t.cfg.MaxNeighbours {
			t.stats.NeighboursDropped++
			return false
		}
		i = t.nbrs.add(p)
	}
	t.eager.set(i, eager)
	for _, ot := range t.origins {
		ot.eager.set(i, eager)
	}
	return true
}

// neighbour reports whether p is a neighbour.
func (t *Tree) neighbour(p Peer) bool {
	_, ok := t.nbrs.slot(p)
	return ok
}

// setEagerFor makes p's link eager in origin o's tree and in the shared
// one; a peer that is no neighbour yet (it linked to this node, and the
// linking graft was lost) becomes one, eager in every tree, as a linking
// graft would make it.
func (t *Tree) setEagerFor(now time.Time, o string, p Peer) { t.setModeFor(now, o, p, true) }

// setLazyFor makes p's link lazy in origin o's tree and in the shared one
// (p, if no neighbour yet, becomes a lazy one).
func (t *Tree) setLazyFor(now time.Time, o string, p Peer) { t.setModeFor(now, o, p, false) }

func (t *Tree) setModeFor(now time.Time, o string, p Peer, eager bool) {
	if !t.neighbour(p) && !t.link(p, eager, false) {
		return
	}
	i, _ := t.nbrs.slot(p)
	t.tree(now, o).eager.set(i, eager)
	t.eager.set(i, eager)
}

// Step processes one message from a peer. It returns the payload to
// deliver when the message brought a broadcast for the first time, and
// ErrInvalidMessage for a message no correct peer sends (the caller
// counts it; the state is unchanged). The machine may keep m.Payload (it
// must not change after), but not m.Announcements: the caller may reuse
// that slice once Step returns.
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
		if m.ID.Origin == "" {
			t.link(m.From, false, false) // a peer of an earlier version: the whole link
		} else {
			t.setLazyFor(now, m.ID.Origin, m.From)
		}
	case Hello:
		if !t.neighbour(m.From) {
			t.link(m.From, false, false)
		}
	default:
		return nil, false, fmt.Errorf("%w: kind %d from %s", ErrInvalidMessage, m.Kind, m.From)
	}
	return nil, false, nil
}

func (t *Tree) onGossip(now time.Time, m Message) ([]byte, bool, error) {
	t.unacked.answered(m.From, m.ID)
	if t.seen(m.ID) {
		if r := t.received.get(m.ID); r != nil && r.grafted && m.From != r.from {
			// The tree's copy of a broadcast a graft brought: the
			// graft was spurious, only the tree was slow.
			t.spurious(now, now.Sub(r.announced))
			r.grafted = false
		}
		// A second copy: the link it came over is redundant in the tree
		// of its origin (only: other origins' broadcasts may need it).
		t.stats.Duplicates++
		t.setLazyFor(now, m.ID.Origin, m.From)
		t.send(Message{Kind: Prune, To: m.From, ID: ID{Origin: m.ID.Origin}})
		return nil, false, nil
	}
	t.stats.Delivered++
	var announcers []source
	e := t.missing.byID[m.ID]
	if e != nil && e.grafts > 0 && !e.grafted(m.From) {
		// The tree's copy came before the answer of a graft: the graft
		// was spurious, only the tree was slow.
		t.spurious(now, now.Sub(e.announced))
	}
	t.settle(now)
	t.window(now)
	t.deliveries++
	if e != nil {
		announcers = e.sources
		delete(t.missing.byID, m.ID) // its timer goes stale
	}
	r := t.remember(now, m.ID, m.Round, m.Payload)
	if e != nil && e.grafts > 0 {
		r.grafted, r.announced, r.from = true, e.announced, m.From
	}
	t.setEagerFor(now, m.ID.Origin, m.From)
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
			e = &missingID{id: a.ID, announced: now}
			t.missing.byID[a.ID] = e
			t.missing.schedule(e, now.Add(t.graftTimeout))
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
	if m.ID.Origin == "" {
		t.link(m.From, true, false) // a new neighbour linking itself
		return
	}
	t.setEagerFor(now, m.ID.Origin, m.From)
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
		t.setEagerFor(now, e.id.Origin, s.peer)
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
func (t *Tree) Ready() []Message { return t.AppendReady(nil) }

// AppendReady appends the messages to send to dst, in order, forgets them
// and returns the extended slice; payloads are shared and read-only. The
// machine keeps its own buffer for the next step's messages, so a caller
// that reuses dst sends every step's messages without allocating (the
// slices Ready returned were 12 % of a 500-node cluster's allocation
// during updates).
func (t *Tree) AppendReady(dst []Message) []Message {
	dst = append(dst, t.out...)
	if cap(t.out) > maxKeptOut {
		t.out = nil // a rare large step's buffer is not kept
		return dst
	}
	clear(t.out) // the buffer must not keep payloads alive
	t.out = t.out[:0]
	return dst
}

// maxKeptOut bounds the message buffer a Tree keeps between steps.
const maxKeptOut = 1024

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
			t.link(p, true, true)
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
// was eager, in the shared tree or in some origin's tree, one neighbour
// lazy there is grafted in its place, eager in every tree.
func (t *Tree) PeerDown(p Peer) {
	var candidates bitset // lazy where p was eager
	wasEager := false
	if i, ok := t.nbrs.slot(p); ok {
		for _, tree := range t.trees() {
			if tree.has(i) {
				wasEager = true
				for _, j := range t.nbrs.sorted {
					if !tree.has(j) {
						candidates.set(j, true)
					}
				}
			}
			tree.set(i, false)
		}
		t.nbrs.remove(p)
		t.rememberGone(p)
	}
	delete(t.view, p)
	delete(t.pendingIHave, p)
	delete(t.pendingAgain, p)
	t.missing.dropPeer(p)
	t.unacked.dropPeer(p)
	if wasEager && candidates.count() > 0 {
		// p may have been this node's way to the rest of the tree: link
		// one lazy peer eagerly at once rather than wait for an
		// announcement (with LazyFanout, one may be long in coming). A
		// redundant link is pruned by the next duplicates.
		lazy := t.nbrs.peersOf(candidates, true)
		q := lazy[announceHash(ID{Origin: string(p)})%uint64(len(lazy))]
		t.link(q, true, false)
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
	if !t.neighbour(p) {
		t.link(p, false, false)
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

// trees returns pointers to the bitsets of the shared tree and of every
// origin's tree, for a change to a link in all of them.
func (t *Tree) trees() []*bitset {
	out := make([]*bitset, 0, 1+len(t.origins))
	out = append(out, &t.eager)
	for _, ot := range t.origins {
		out = append(out, &ot.eager)
	}
	return out
}

// Eager returns the eager neighbours of the shared tree (a new origin's
// tree starts as a copy of it), sorted.
func (t *Tree) Eager() []Peer { return t.nbrs.peersOf(t.eager, true) }

// Lazy returns the lazy neighbours of the shared tree, sorted.
func (t *Tree) Lazy() []Peer { return t.nbrs.peersOf(t.eager, false) }

// EagerFor returns the neighbours origin o's broadcasts are pushed to,
// sorted (the shared tree's for an origin without a tree yet); LazyFor
// those they are announced to.
func (t *Tree) EagerFor(o string) []Peer {
	if ot := t.origins[o]; ot != nil {
		return t.nbrs.peersOf(ot.eager, true)
	}
	return t.Eager()
}

// LazyFor returns the neighbours origin o's broadcasts are announced to.
func (t *Tree) LazyFor(o string) []Peer {
	if ot := t.origins[o]; ot != nil {
		return t.nbrs.peersOf(ot.eager, false)
	}
	return t.Lazy()
}

// Links returns the number of origins' trees kept and their eager and
// lazy links, summed over the trees.
func (t *Tree) Links() (origins, eager, lazy int) {
	for _, ot := range t.origins {
		e := ot.eager.count()
		eager += e
		lazy += t.nbrs.len() - e
	}
	return len(t.origins), eager, lazy
}

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

func (t *Tree) remember(now time.Time, id ID, round uint32, payload []byte) *record {
	r := &record{id: id, at: now, round: round, payload: payload}
	t.received.add(r)
	t.stats.CacheEvictions += uint64(t.received.evictPayloads(t.cfg.MaxCacheBytes))
	t.received.expire(now.Add(-t.cfg.Retention), t.cfg.MaxRecords, now)
	return r
}

// push sends a broadcast whole to the eager peers and announces it to the
// lazy ones, except the peer it came from, and waits for the answer of
// each lazy peer not among announcers (those that announced it here
// have it).
func (t *Tree) push(now time.Time, id ID, round uint32, payload []byte, from Peer, announcers []source) {
	ot := t.tree(now, id.Origin)
	lazy := t.lazyScratch[:0]
	for _, i := range t.nbrs.sorted {
		switch p := t.nbrs.peers[i]; {
		case p == from:
		case ot.eager.has(i):
			t.send(Message{Kind: Gossip, To: p, ID: id, Round: round, Payload: payload})
		default:
			lazy = append(lazy, p)
		}
	}
	t.lazyScratch = lazy[:0]
	start, k := 0, len(lazy)
	if f := t.cfg.LazyFanout; f > 0 && k > f {
		// A window of f peers starting at a place that depends on the id,
		// so that successive broadcasts are announced to different peers.
		start, k = int(announceHash(id)%uint64(len(lazy))), f
	}
	for j := range k {
		p := lazy[(start+j)%len(lazy)]
		t.pendingIHave[p] = append(t.pendingIHave[p], Announcement{ID: id, Round: round})
		if t.cfg.ReannounceAfter > 0 && !slices.ContainsFunc(announcers, func(s source) bool { return s.peer == p }) {
			if !t.unacked.schedule(ackKey{peer: p, id: id}, now.Add(t.reannounceAfter()), 0, t.cfg.MaxUnacked) {
				t.stats.UnackedDropped++
			}
		}
	}
	if k > 0 && t.lazyDue.IsZero() {
		t.lazyDue = now.Add(t.cfg.LazyInterval)
	}
}

// spurious raises the graft timeout above lateness: how long after its
// first announcement the tree's copy of a broadcast came that was grafted
// meanwhile (before the graft's answer, or after it). A loaded machine,
// or a deep tree, delays the eager path by more than GraftTimeout, and
// grafting then adds load: each graft costs an answer, a duplicate and a
// prune, and moves the tree around. With links of 0-80 ms, a fixed 50 ms
// took 0.47 grafts and 0.98 duplicates per delivery (see
// TestManyOriginsOnASlowNetwork). A graft whose broadcast never came over
// the tree (a lost push) changes nothing.
//
// One spurious graft is no evidence: under loss, a push lost upstream
// and grafted there comes late too. The timeout rises at the third
// within a second, when they follow at least a quarter of the second's
// deliveries (a slow tree makes them by the dozen), to above the largest
// lateness of those.
func (t *Tree) spurious(now time.Time, lateness time.Duration) {
	t.stats.SpuriousGrafts++
	t.window(now)
	t.spuriousCount++
	t.spuriousLate = max(t.spuriousLate, lateness)
	if t.spuriousCount < spuriousEvidence || t.spuriousCount*spuriousShare < t.deliveries {
		return
	}
	t.raised = now
	if d := t.spuriousLate + t.spuriousLate/4; d > t.graftTimeout {
		t.graftTimeout = min(d, t.cfg.MaxGraftTimeout)
	}
}

// window starts a new second of evidence when the last is over.
func (t *Tree) window(now time.Time) {
	if now.Sub(t.spuriousSince) > time.Second {
		t.spuriousSince, t.spuriousCount, t.spuriousLate, t.deliveries = now, 0, 0, 0
	}
}

// spuriousEvidence spurious grafts within a second, and at least one in
// spuriousShare of the second's deliveries, raise the graft timeout. Under
// 5 % loss about one delivery in ten follows a spurious graft (the push
// was lost upstream, and the tree's copy came after the upstream graft);
// on a slow tree, most do.
const (
	spuriousEvidence = 3
	spuriousShare    = 4
)

// settle halves the graft timeout's excess over GraftTimeout for every
// second without a spurious graft.
func (t *Tree) settle(now time.Time) {
	for t.graftTimeout > t.cfg.GraftTimeout && now.Sub(t.raised) >= time.Second {
		t.graftTimeout = t.cfg.GraftTimeout + (t.graftTimeout-t.cfg.GraftTimeout)/2
		t.raised = t.raised.Add(time.Second)
	}
}

// reannounceAfter is how long a lazy peer may stay silent about an
// announced id: at least ReannounceAfter, and twice the graft timeout (the
// peer's own copy may be that much later than this node's).
func (t *Tree) reannounceAfter() time.Duration {
	return max(t.cfg.ReannounceAfter, 2*t.graftTimeout)
}

// GraftTimeout returns the current wait before an announced id is
// grafted (see Config.MaxGraftTimeout).
func (t *Tree) GraftTimeout() time.Duration { return t.graftTimeout }

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
	r := t.received.get(k.id)
	if !t.neighbour(k.peer) || r == nil || r.payload == nil {
		return
	}
	t.stats.Reannounced++
	t.pendingAgain[k.peer] = append(t.pendingAgain[k.peer], Announcement{ID: k.id, Round: r.round})
	if t.lazyDue.IsZero() || now.Before(t.lazyDue) {
		t.lazyDue = now // the repeat has waited long enough
	}
	if e.tries+1 < t.cfg.MaxReannounces {
		if !t.unacked.schedule(k, now.Add(t.reannounceAfter()), e.tries+1, t.cfg.MaxUnacked) {
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
		// An origin silent for OriginRetention (gone, or quiet) loses
		// its tree; if it broadcasts again, its tree forms again.
		idle := now.Add(-t.cfg.OriginRetention)
		for o, ot := range t.origins {
			if ot.used.Before(idle) {
				delete(t.origins, o)
			}
		}
	}
}
