package swarm

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/swarm/internal/plumtree"
)

// kindTree carries one message of the broadcast tree (swarm/internal/
// plumtree): a batch of an origin's deltas pushed along the tree, a batch
// of announcements, a graft or a prune. Origin is the sending node.
const kindTree codec.Kind = 11

const (
	rejectTree = "tree" // a tree message that does not decode or that no correct peer sends
)

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

	mu        sync.Mutex
	t         *plumtree.Tree
	out       []plumtree.Message
	view      []plumtree.Peer
	viewDirty bool
	downs     []plumtree.Peer
	rnd       *rand.Rand
}

func newBroadcastTree(n *Node) (*broadcastTree, error) {
	t, err := plumtree.New(plumtree.DefaultConfig(plumtree.Peer(n.cfg.Name), n.self.String()))
	if err != nil {
		return nil, err
	}
	b := &broadcastTree{n: n, t: t, wake: make(chan struct{}, 1), viewDirty: true,
		rnd: rand.New(rand.NewPCG(n.self.Incarnation, uint64(len(n.cfg.Name))))}
	n.handlers[kindTree] = b.onEnvelope
	n.members.addHook(b.onMember)
	return b, nil
}

// active reports whether deltas travel the tree: past the fast path, with
// the tree enabled.
func (n *Node) treeActive() bool {
	return n.tree != nil && !n.fastPath()
}

func (b *broadcastTree) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// onMember marks the view for refresh; a departed member leaves the tree
// at once. It runs in memberlist's event callback: no I/O.
func (b *broadcastTree) onMember(ev MemberEvent) {
	b.mu.Lock()
	b.viewDirty = true
	if ev.Member.State != MemberAlive {
		b.downs = append(b.downs, plumtree.Peer(ev.Member.Name))
	}
	b.mu.Unlock()
	b.signal()
}

// broadcast sends a flush's deltas down the tree, packed into batches that
// fit a packet (each envelope encoded once).
func (b *broadcastTree) broadcast(envs []codec.Envelope) {
	n := b.n
	limit := n.maxPkt - 96 - 2*len(n.self.String())
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
		b.mu.Lock()
		b.t.Broadcast(time.Now(), buf)
		b.out = append(b.out, b.t.Ready()...)
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
	b.signal()
}

// onEnvelope steps the machine with a peer's tree message and merges the
// deltas it delivers (a NotifyMsg handler: decoding and merging only).
func (b *broadcastTree) onEnvelope(env *codec.Envelope) {
	n := b.n
	var w treeWire
	if err := n.codec.Unmarshal(env.Payload, &w); err != nil {
		n.stats.reject(rejectTree)
		n.warnLimited(rejectTree, "dropped a tree message that does not decode", "origin", env.Origin.String(), "err", err)
		return
	}
	m := plumtree.Message{
		Kind: plumtree.Kind(w.Kind), From: plumtree.Peer(env.Origin.Node),
		ID: plumtree.ID{Origin: w.Origin, Seq: w.Seq}, Round: w.Round,
		Payload: append([]byte(nil), w.Payload...),
	}
	if len(w.Announcements) > 0 {
		m.Announcements = make([]plumtree.Announcement, len(w.Announcements))
		for i, a := range w.Announcements {
			m.Announcements[i] = plumtree.Announcement{ID: plumtree.ID{Origin: a.Origin, Seq: a.Seq}, Round: a.Round}
		}
	}
	b.mu.Lock()
	payload, deliver, err := b.t.Step(time.Now(), m)
	b.out = append(b.out, b.t.Ready()...)
	b.mu.Unlock()
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
	for i := range envs {
		if envs[i].Kind != codec.KindDelta {
			n.stats.reject(rejectTree)
			continue
		}
		n.stats.received(codec.KindDelta, len(envs[i].Payload))
		// The tree forwards the broadcast itself; no gossip relay.
		n.receive(&envs[i], false)
	}
}

// run sends the machine's messages, runs its timers and refreshes its view.
func (b *broadcastTree) run() {
	defer b.n.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
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
		out := append(b.out, b.t.Ready()...)
		b.out = nil
		next, ok := b.t.Next()
		b.mu.Unlock()
		b.send(out)
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
	for _, p := range b.downs {
		b.t.PeerDown(p)
	}
	b.downs = b.downs[:0]
	nodes := b.n.members.peers()
	members := make([]plumtree.Peer, len(nodes))
	for i, nd := range nodes {
		members[i] = plumtree.Peer(nd.Name)
	}
	b.view = plumtree.SampleView(b.view, members, b.n.cfg.TreeFanout, b.rnd.IntN)
	b.t.SetView(b.view)
}

// send encodes and sends tree messages: best effort when they fit a
// packet, else over the reliable stream.
func (b *broadcastTree) send(msgs []plumtree.Message) {
	n := b.n
	for _, m := range msgs {
		to, ok := n.members.node(string(m.To))
		if !ok {
			continue
		}
		w := treeWire{Kind: uint8(m.Kind), Origin: m.ID.Origin, Seq: m.ID.Seq, Round: m.Round, Payload: m.Payload}
		for _, a := range m.Announcements {
			w.Announcements = append(w.Announcements, treeAnnouncement{Origin: a.ID.Origin, Seq: a.ID.Seq, Round: a.Round})
		}
		payload, err := n.codec.Marshal(&w)
		if err != nil {
			n.log.Error("encode tree message", "err", err)
			continue
		}
		buf, err := n.codec.EncodeEnvelope(&codec.Envelope{Kind: kindTree, Origin: n.self, Payload: payload})
		if err != nil {
			n.log.Error("encode tree message", "err", err)
			continue
		}
		if len(buf) <= n.maxPkt {
			err = n.ml.SendBestEffort(to, buf)
		} else {
			err = n.ml.SendReliable(to, buf)
		}
		if err != nil {
			n.log.Debug("tree send", "to", m.To, "err", err)
			continue
		}
		n.stats.sent(kindTree, len(buf))
	}
}
