package swarm

import (
	"encoding/base64"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm/internal/plumtree"
)

// kindTree carries one message of the broadcast tree (swarm/internal/
// plumtree): a batch of an origin's deltas pushed along the tree, a batch
// of announcements, a graft or a prune. Origin is the sending node.
const kindTree codec.Kind = 11

const (
	rejectTree    = "tree"            // a tree message that does not decode or that no correct peer sends
	dropTreeLarge = "tree_large_full" // a tree message too large for a packet, with the stream queue full
	dropTreeOut   = "tree_out_full"   // a tree message forgotten before the tree's goroutine sent it (maxTreeOut waiting)
	// maxTreeOut bounds the tree messages waiting for the tree's goroutine
	// to send them; past it the oldest are forgotten (the machine's grafts
	// and repeated announcements, then anti-entropy, repair what they
	// carried).
	maxTreeOut = 1 << 16
	// maxTreeOutBytes bounds the payload bytes of those messages (a
	// payload pushed to several peers counts once per peer: an upper
	// bound on what they hold).
	maxTreeOutBytes = 16 << 20
	// dropTreeChanges: a membership change forgotten before the tree's
	// goroutine took it (maxMemberChanges waiting).
	dropTreeChanges = "tree_member_changes"
	// maxTreeLarge bounds the tree messages one round of the tree's
	// goroutine hands to the stream sender (a flush's single delta larger
	// than a packet, or a graft's answer carrying one); the stream
	// sender's own byte and per-member bounds apply after that.
	maxTreeLarge = 256
)

// treeWires recycles the treeWire a message is decoded into or encoded
// from: the codec takes it as an interface, so it would otherwise be
// allocated for every tree message (5 % of a 500-node cluster's
// allocation during updates).
var treeWires = sync.Pool{New: func() any { return new(treeWire) }}

// treeAnns recycles the announcements of a tree message handed to Step.
var treeAnns = sync.Pool{New: func() any { return new([]plumtree.Announcement) }}

// getTreeWire returns a treeWire from the pool with every field zero but
// the capacity of Announcements, whose elements are zeroed too: encode
// appends to it, and the codec decodes an array into the elements it has.
func getTreeWire() *treeWire {
	w := treeWires.Get().(*treeWire)
	anns := w.Announcements[:0]
	if cap(anns) > maxKeptTreeOut {
		anns = nil
	}
	clear(anns[:cap(anns)])
	*w = treeWire{Announcements: anns}
	return w
}

// treeWire is the payload of a kindTree envelope.
type treeWire struct {
	_             struct{} `cbor:",toarray"`
	Kind          uint8
	Origin        string
	Seq           uint64
	Round         uint32
	Payload       []byte
	Announcements []treeAnnouncement
}

type treeAnnouncement struct {
	_      struct{} `cbor:",toarray"`
	Origin string
	Seq    uint64
	Round  uint32
}

// broadcastTree runs the Plumtree state machine for a node: memberlist's
// callbacks step it under mu (no I/O, no waiting) and wake the tree's
// goroutine, which sends what the machine produced, runs its timers and
// refreshes its partial view on membership events.
type broadcastTree struct {
	n    *Node
	wake chan struct{}

	mu       sync.Mutex
	t        *plumtree.Tree
	out      []plumtree.Message // produced by the machine, for run to send
	outBytes int                // payload bytes in out
	// sendScratch is send's, used by the tree's goroutine alone.
	sendScratch treeSendScratch
	view        []plumtree.Peer
	viewDirty   bool
	// changes are the members gone down or back up since the last
	// refresh, in order.
	changes []memberChange
	rnd     *rand.Rand

	// sentBytes counts the encoded tree messages sent by packet, by
	// treeTraffic class; broadcastBytes the payloads broadcast here.
	sentBytes      [3]atomic.Uint64
	broadcastBytes atomic.Uint64
}

// Classes of tree traffic (TreeStats): payloads pushed or sent in answer
// to a graft, announcements, and the rest (grafts, prunes, hellos).
const (
	treePush = iota
	treeAnnounce
	treeControl
)

func treeTraffic(k plumtree.Kind) int {
	switch k {
	case plumtree.Gossip:
		return treePush
	case plumtree.IHave:
		return treeAnnounce
	}
	return treeControl
}

// memberChange is a member that went down, or came back up after a
// false failure.
type memberChange struct {
	peer plumtree.Peer
	up   bool
}

// maxMemberChanges bounds the changes waiting for the tree's goroutine;
// past it the oldest are forgotten (the view's refresh still drops a
// departed peer, and Hello re-links one that came back).
const maxMemberChanges = 4096

func newBroadcastTree(n *Node) (*broadcastTree, error) {
	t, err := plumtree.New(plumtree.DefaultConfig(plumtree.Peer(n.cfg.Name), treeOrigin(n.self)))
	if err != nil {
		return nil, err
	}
	b := &broadcastTree{n: n, t: t, wake: make(chan struct{}, 1), viewDirty: true,
		rnd: rand.New(rand.NewPCG(n.self.Incarnation, uint64(len(n.cfg.Name))))}
	n.members.addHook(b.onMember)
	return b, nil
}

// treeOriginLen is the length of a tree origin (treeOrigin).
const treeOriginLen = 11

// treeOrigin names a replica's broadcasts in the tree: the 64-bit FNV-1a
// hash of "name#incarnation", in unpadded base64url, 11 bytes. The tree
// treats it as opaque, and every announcement carries it: a Kubernetes
// pod's "name#incarnation" is about 45 bytes, and announcements are most
// of the tree's traffic. A new incarnation gets a new origin, so sequence
// numbers never repeat. Nodes of earlier versions name their broadcasts
// by the whole string; the two mix, since relays keep the id they got.
func treeOrigin(r crdt.Replica) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(r.String()))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// treeActive reports whether deltas travel the tree: past the fast path,
// with the tree enabled. It counts members in the member table, not in
// memberlist: memberlist's callbacks may run before New has stored it.
func (n *Node) treeActive() bool {
	if n.tree == nil {
		return false
	}
	max := n.cfg.DirectSendMaxMembers
	return max == 0 || n.members.live() > max
}

// live returns the number of live members, this node included.
func (m *membership) live() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.nodes)
}

func (b *broadcastTree) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// onMember marks the view for refresh; a departed member leaves the tree
// at once, and one back after a false failure is linked again where it
// was a neighbour. It runs in memberlist's event callback: no I/O.
func (b *broadcastTree) onMember(ev MemberEvent) {
	b.mu.Lock()
	b.viewDirty = true
	p := plumtree.Peer(ev.Member.Name)
	switch {
	case ev.Member.State != MemberAlive:
		b.changes = append(b.changes, memberChange{peer: p})
	case ev.Previous != 0 && ev.Previous != MemberAlive:
		b.changes = append(b.changes, memberChange{peer: p, up: true})
	}
	if len(b.changes) > maxMemberChanges {
		b.changes = b.changes[len(b.changes)-maxMemberChanges:]
		b.n.stats.drop(dropTreeChanges)
	}
	b.mu.Unlock()
	b.signal()
}

// broadcast sends a flush's deltas down the tree, packed into batches that
// fit a packet (each envelope encoded once).
func (b *broadcastTree) broadcast(envs []codec.Envelope) {
	n := b.n
	limit := n.maxPkt - 96 - len(n.self.String()) - treeOriginLen
	var batch []codec.Envelope
	size := 0
	send := func() {
		if len(batch) == 0 {
			return
		}
		buf, err := n.codec.EncodeBatch(batch)
		batch, size = batch[:0], 0
		if err != nil {
			n.log.Error("encode tree batch", "err", err)
			return
		}
		b.broadcastBytes.Add(uint64(len(buf)))
		b.mu.Lock()
		b.t.Broadcast(time.Now(), buf)
		b.takeReadyLocked()
		b.mu.Unlock()
	}
	for _, env := range envs {
		sz := len(env.Payload) + len(env.Name) + len(env.Type) + len(env.Origin.Node) + 32
		if size+sz > limit {
			send()
		}
		batch = append(batch, env)
		size += sz
	}
	send()
	b.signal() // the machine's timers may have moved
}

// onEnvelope steps the machine with a peer's tree message and merges the
// deltas it delivers (a NotifyMsg handler: decoding and merging only).
func (b *broadcastTree) onEnvelope(env *codec.Envelope) {
	n := b.n
	w := getTreeWire()
	defer treeWires.Put(w)
	if err := n.codec.Unmarshal(env.Payload, w); err != nil {
		n.stats.reject(rejectTree)
		n.warnLimited(rejectTree, "dropped a tree message that does not decode", "origin", env.Origin.String(), "err", err)
		return
	}
	// The payload is the codec's own copy (it copies every byte string
	// it decodes; TestTreeWirePayloadIsACopy pins that), which the
	// machine may keep.
	m := plumtree.Message{
		Kind: plumtree.Kind(w.Kind), From: plumtree.Peer(env.Origin.Node),
		ID: plumtree.ID{Origin: w.Origin, Seq: w.Seq}, Round: w.Round,
		Payload: w.Payload,
	}
	if len(w.Announcements) > 0 {
		// Step does not keep the announcements: a pooled slice serves.
		anns := treeAnns.Get().(*[]plumtree.Announcement)
		defer func() {
			clear(*anns)
			if cap(*anns) <= maxKeptTreeOut {
				*anns = (*anns)[:0]
				treeAnns.Put(anns)
			}
		}()
		for _, a := range w.Announcements {
			*anns = append(*anns, plumtree.Announcement{ID: plumtree.ID{Origin: a.Origin, Seq: a.Seq}, Round: a.Round})
		}
		m.Announcements = *anns
	}
	b.mu.Lock()
	payload, deliver, err := b.t.Step(time.Now(), m)
	b.takeReadyLocked()
	b.mu.Unlock()
	// The tree's goroutine sends what the step produced: this callback
	// returns to memberlist's handler sooner, and messages that pile up
	// while that goroutine is busy leave together, one packet per peer
	// (see send).
	b.signal()
	if err != nil {
		n.stats.reject(rejectTree)
		n.warnLimited(rejectTree, "dropped a tree message", "origin", env.Origin.String(), "err", err)
		return
	}
	if !deliver {
		return
	}
	envs, err := n.codec.DecodeBatch(payload)
	if err != nil {
		n.stats.reject(rejectDecode)
		n.warnLimited(rejectDecode, "dropped a tree broadcast that does not decode", "origin", w.Origin, "err", err)
		return
	}
	in := n.inbound()
	for i := range envs {
		if envs[i].Kind != codec.KindDelta {
			n.stats.reject(rejectTree)
			continue
		}
		n.stats.received(codec.KindDelta, len(envs[i].Payload))
		// The tree forwards the broadcast itself; no gossip relay.
		n.receive(&envs[i], false, in)
	}
}

// run sends the machine's messages, runs its timers and refreshes its view.
func (b *broadcastTree) run() {
	defer b.n.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var spare []plumtree.Message
	for {
		select {
		case <-b.n.stop:
			return
		case <-b.wake:
		case <-timer.C:
		}
		now := time.Now()
		b.mu.Lock()
		if b.viewDirty {
			b.refreshLocked()
		}
		b.t.Tick(now)
		b.takeReadyLocked()
		out := b.out
		b.out, b.outBytes = spare[:0], 0
		next, ok := b.t.Next()
		b.mu.Unlock()
		b.sendLarge(b.send(out))
		// The two buffers take turns: the one just sent is filled while
		// the next is sent (a rare long one is not kept).
		spare = nil
		if cap(out) <= maxKeptTreeOut {
			clear(out)
			spare = out
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if ok {
			timer.Reset(max(time.Until(next), time.Millisecond))
		} else {
			timer.Reset(time.Hour)
		}
	}
}

// refreshLocked drops departed peers and re-samples the view: live peers
// of the current view stay, new random members fill it up to TreeFanout.
func (b *broadcastTree) refreshLocked() {
	b.viewDirty = false
	for _, c := range b.changes {
		if c.up {
			b.t.PeerUp(c.peer)
		} else {
			b.t.PeerDown(c.peer)
		}
	}
	clear(b.changes)
	b.changes = b.changes[:0]
	nodes := b.n.members.peers()
	members := make([]plumtree.Peer, len(nodes))
	for i, nd := range nodes {
		members[i] = plumtree.Peer(nd.Name)
	}
	b.view = plumtree.SampleView(b.view, members, b.n.cfg.TreeFanout, b.rnd.IntN)
	b.t.SetView(b.view)
}

// largeTreeMsg is an encoded tree message for the reliable stream.
type largeTreeMsg struct {
	to  string
	buf []byte
}

// takeReadyLocked queues the messages the machine's last step produced,
// appended straight to out, so that a step allocates nothing for them.
// b.mu is held.
func (b *broadcastTree) takeReadyLocked() {
	from := len(b.out)
	b.out = b.t.AppendReady(b.out)
	b.queueLocked(from)
}

// maxKeptTreeOut bounds the message buffers kept for reuse between steps
// and sends (about 100 bytes a message).
const maxKeptTreeOut = 1024

// queueLocked counts the messages appended to out from index from on
// among those run will send, forgetting the oldest past maxTreeOut
// messages or maxTreeOutBytes of payload. b.mu is held.
func (b *broadcastTree) queueLocked(from int) {
	for i := from; i < len(b.out); i++ {
		b.outBytes += len(b.out[i].Payload)
	}
	over := 0
	for len(b.out)-over > maxTreeOut || b.outBytes > maxTreeOutBytes && over < len(b.out) {
		b.outBytes -= len(b.out[over].Payload)
		over++
	}
	if over > 0 {
		clear(b.out[:over])
		b.out = b.out[over:]
		b.n.stats.dropN(dropTreeOut, over)
	}
}

// send encodes tree messages (messages carrying the same broadcast once)
// and sends them best effort, without waiting: the messages to one peer
// are packed into as few packets as fit (a batch of envelopes, which the
// receiver's NotifyMsg takes as one message), so that when messages pile
// up, while this goroutine was busy or the machine answered many peers at
// once, a peer's memberlist queues one message for them, not one each. A
// loaded node's memberlist, whose handler queue holds 1,024 messages and
// drops the rest, otherwise lost pushes, grafts and their answers by the
// thousand (70 nodes, every one broadcasting). Messages too large for a
// packet are returned, for the reliable stream.
func (b *broadcastTree) send(msgs []plumtree.Message) (large []largeTreeMsg) {
	n := b.n
	sc := &b.sendScratch
	if sc.byPeer == nil {
		sc.byPeer = make(map[plumtree.Peer]int)
	}
	defer sc.reset()
	var last *plumtree.Message
	var buf []byte
	var ihaves ihaveCache
	for i := range msgs {
		m := &msgs[i]
		d := sc.dest(m.To)
		if d == nil {
			to, ok := n.members.node(string(m.To))
			if !ok {
				continue
			}
			d = sc.add(m.To, to)
		}
		if m.Kind == plumtree.IHave {
			// Announcements are split to fit packets: a batch of the
			// machine's MaxAnnouncements long origin names may not.
			bufs, err := ihaves.encode(b, m)
			if err != nil {
				n.log.Error("encode tree announcements", "err", err)
				continue
			}
			d.bufs = append(d.bufs, bufs...)
			for range bufs {
				d.kinds = append(d.kinds, m.Kind)
			}
			continue
		}
		if last == nil || !sameEncoding(last, m) {
			var err error
			if buf, err = b.encode(m); err != nil {
				n.log.Error("encode tree message", "err", err)
				last = nil
				continue
			}
			last = m
		}
		d.bufs = append(d.bufs, buf)
		d.kinds = append(d.kinds, m.Kind)
	}
	for i := range sc.dests {
		d := &sc.dests[i]
		p := d.peer
		packets, big, err := pack(n.codec, d.bufs, n.maxPkt)
		if err != nil {
			n.log.Error("pack tree messages", "to", p, "err", err)
			continue
		}
		for _, pkt := range packets {
			if err := n.ml.SendBestEffort(d.to, pkt); err != nil {
				n.log.Debug("tree send", "to", p, "err", err)
			}
		}
		for i, e := range d.bufs {
			if len(e) <= n.maxPkt {
				n.stats.sent(kindTree, len(e))
				b.sentBytes[treeTraffic(d.kinds[i])].Add(uint64(len(e)))
			}
		}
		for _, e := range big {
			if len(large) >= maxTreeLarge {
				n.stats.drop(dropTreeLarge) // the machine's repair, then anti-entropy
				continue
			}
			large = append(large, largeTreeMsg{to: string(p), buf: e})
		}
	}
	return large
}

// treeSendScratch is what send needs per destination, kept between sends
// by the tree's goroutine (the only caller of send): a send to hundreds of
// peers then allocates no map and no per-peer buffers.
type treeSendScratch struct {
	byPeer map[plumtree.Peer]int // index in dests
	dests  []treeDest
}

// treeDest is one peer's share of a send, in the order first addressed.
type treeDest struct {
	peer  plumtree.Peer
	to    *memberlist.Node
	bufs  [][]byte
	kinds []plumtree.Kind // of bufs, for the traffic counts
}

func (sc *treeSendScratch) dest(p plumtree.Peer) *treeDest {
	if i, ok := sc.byPeer[p]; ok {
		return &sc.dests[i]
	}
	return nil
}

func (sc *treeSendScratch) add(p plumtree.Peer, to *memberlist.Node) *treeDest {
	sc.byPeer[p] = len(sc.dests)
	if len(sc.dests) < cap(sc.dests) {
		sc.dests = sc.dests[:len(sc.dests)+1]
		d := &sc.dests[len(sc.dests)-1]
		d.peer, d.to = p, to
		return d
	}
	sc.dests = append(sc.dests, treeDest{peer: p, to: to})
	return &sc.dests[len(sc.dests)-1]
}

// reset empties the scratch for the next send, dropping its references to
// packets and members; buffers grown past maxKeptTreeOut are not kept.
func (sc *treeSendScratch) reset() {
	clear(sc.byPeer)
	if len(sc.dests) > maxKeptTreeOut {
		sc.dests = nil
		return
	}
	for i := range sc.dests {
		d := &sc.dests[i]
		clear(d.bufs)
		if cap(d.bufs) > maxKeptTreeOut {
			d.bufs, d.kinds = nil, nil
		}
		d.peer, d.to, d.bufs, d.kinds = "", nil, d.bufs[:0], d.kinds[:0]
	}
	sc.dests = sc.dests[:0]
}

// sameEncoding reports whether two messages encode alike: only the
// receiver differs (a broadcast pushed to several peers).
func sameEncoding(a, b *plumtree.Message) bool {
	return a.Kind == plumtree.Gossip && b.Kind == plumtree.Gossip && a.ID == b.ID && a.Round == b.Round
}

// ihaveCache keeps the encoding of the last announcement message of a
// send: a flush announces the same ids to each lazy peer, and the tree
// lists the peers one after the other, so each batch is encoded once
// rather than once per peer. The packets are shared, as a push's are.
type ihaveCache struct {
	last *plumtree.Message
	bufs [][]byte
}

func (c *ihaveCache) encode(b *broadcastTree, m *plumtree.Message) ([][]byte, error) {
	if c.last != nil && c.last.Round == m.Round && c.last.ID == m.ID && slices.Equal(c.last.Announcements, m.Announcements) {
		return c.bufs, nil
	}
	bufs, err := b.encodeAnnouncements(m)
	if err != nil {
		c.last, c.bufs = nil, nil
		return nil, err
	}
	c.last, c.bufs = m, bufs
	return bufs, nil
}

// encodeAnnouncements encodes an IHave as messages that each fit a
// packet, halving the announcements per message until they do (an IHave
// too large for a packet would go over the stream, whose per-member bound
// drops it when the peer is slow: its ids then wait for a repeat).
func (b *broadcastTree) encodeAnnouncements(m *plumtree.Message) ([][]byte, error) {
	var out [][]byte
	anns := m.Announcements
	k := len(anns)
	for len(anns) > 0 {
		k = min(k, len(anns))
		part := *m
		part.Announcements = anns[:k]
		buf, err := b.encode(&part)
		if err != nil {
			return out, err
		}
		if len(buf) > b.n.maxPkt && k > 1 {
			k /= 2
			continue
		}
		out = append(out, buf)
		anns = anns[k:]
	}
	return out, nil
}

func (b *broadcastTree) encode(m *plumtree.Message) ([]byte, error) {
	w := getTreeWire()
	defer treeWires.Put(w)
	*w = treeWire{Kind: uint8(m.Kind), Origin: m.ID.Origin, Seq: m.ID.Seq, Round: m.Round, Payload: m.Payload, Announcements: w.Announcements}
	for _, a := range m.Announcements {
		w.Announcements = append(w.Announcements, treeAnnouncement{Origin: a.ID.Origin, Seq: a.ID.Seq, Round: a.Round})
	}
	payload, err := b.n.codec.Marshal(w)
	if err != nil {
		return nil, err
	}
	// The receiver needs the sender's name only (the peer of the link);
	// leaving the incarnation out saves 10 bytes on every tree message,
	// a fifth of an announcement.
	return b.n.codec.EncodeEnvelope(&codec.Envelope{Kind: kindTree, Origin: crdt.Replica{Node: b.n.self.Node}, Payload: payload})
}

// sendLarge hands messages too large for a packet to the node's stream
// sender, whose workers send them over the reliable stream concurrently,
// each bounded by TCPTimeout, within its byte and per-member bounds: a
// half-dead member does not hold up the tree's goroutine.
func (b *broadcastTree) sendLarge(msgs []largeTreeMsg) {
	n := b.n
	for _, m := range msgs {
		if to, ok := n.members.node(m.to); ok {
			n.streams.sendKind(kindTree, [][]byte{m.buf}, []*memberlist.Node{to})
		}
	}
}

func (b *broadcastTree) stats() TreeStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.t.Stats()
	origins, eager, lazy := b.t.Links()
	ts := TreeStats{
		Origins:    origins,
		Broadcasts: st.Broadcasts, Delivered: st.Delivered, Duplicates: st.Duplicates,
		Grafts: st.GraftsSent, GraftGiveUps: st.GraftGiveUps, Reannounced: st.Reannounced,
		Dropped:        st.MissingDropped + st.CacheEvictions + st.GraftsMissed + st.UnackedDropped + st.OriginsDropped + st.NeighboursDropped,
		Missing:        b.t.Missing(),
		BroadcastBytes: b.broadcastBytes.Load(),
		PushBytes:      b.sentBytes[treePush].Load(),
		AnnounceBytes:  b.sentBytes[treeAnnounce].Load(),
		ControlBytes:   b.sentBytes[treeControl].Load(),
	}
	if origins > 0 {
		ts.Eager, ts.Lazy = float64(eager)/float64(origins), float64(lazy)/float64(origins)
	}
	return ts
}
