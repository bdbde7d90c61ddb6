package swarm

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// broadcast is one queued gossip message. It is a memberlist
// NamedBroadcast, so queueing a newer broadcast with the same name replaces
// the older one in O(1).
type broadcast struct {
	name string
	msg  []byte
	box  *outbox
	own  bool // from this node's own replica (Leave waits for these)
	// done is set by memberlist when the message leaves the queue (sent
	// often enough, replaced, or pruned). Finished runs under the queue's
	// lock and must not take ours: it only updates atomics.
	done atomic.Bool
}

func (b *broadcast) Name() string                            { return b.name }
func (b *broadcast) Invalidates(o memberlist.Broadcast) bool { return false }
func (b *broadcast) Message() []byte                         { return b.msg }
func (b *broadcast) Finished() {
	if b.done.CompareAndSwap(false, true) {
		b.box.queuedBytes.Add(-int64(len(b.msg)))
		if b.own {
			b.box.ownQueued.Add(-1)
		}
	}
}

// outKey names the gossip stream of one value from one origin replica.
type outKey struct {
	name   string
	origin crdt.Replica
}

// outSlot accumulates what the stream still has to tell: every delta
// queued since the current broadcast was first queued is merged into acc,
// and acc replaces the queued broadcast. So the queue holds one message per
// (value, origin), traffic grows with the number of changed values, not of
// updates, and no delta is lost by replacement.
type outSlot struct {
	acc  wire
	cur  *broadcast
	gen  uint64 // bumped when acc outgrows a packet and cur is sealed
	base string
	// since is when acc started; acc is sealed after outbox.maxAge, so
	// old deltas die out (retirement's forgetting relies on it: see
	// docs/DESIGN.md, "Replica retirement").
	since time.Time
}

// dropQueueFull counts gossip messages pruned from the queue to keep it
// within Config.MaxBroadcastQueueBytes (anti-entropy carries what they held).
const dropQueueFull = "broadcast_queue_full"

// outbox owns the transmit-limited queue. Lock order: outbox.mu, then
// gate, then the queue's own lock (taken inside memberlist's methods);
// memberlist calls Finished with the queue's lock held, which only updates
// atomics.
type outbox struct {
	mu      sync.Mutex
	q       *memberlist.TransmitLimitedQueue
	slots   map[outKey]*outSlot
	self    crdt.Replica
	maxSize int // largest message that fits one gossip packet
	// maxBytes bounds the queued messages' bytes; beyond it the queue is
	// pruned to pruneTo, dropping the messages sent most often first.
	maxBytes, pruneTo int64
	alone             func() bool
	codec             *codec.Codec
	stats             *counters
	// maxAge bounds how long an accumulation grows before its message is
	// sealed and a new one starts.
	maxAge time.Duration

	// gate keeps GetBroadcasts out while the queue is pruned, so that the
	// messages that leave the queue then are exactly the pruned ones.
	gate sync.RWMutex

	queuedBytes atomic.Int64 // bytes of the messages in the queue
	ownQueued   atomic.Int64 // messages in the queue from self
}

func newOutbox(q *memberlist.TransmitLimitedQueue, self crdt.Replica, maxSize, maxBytes int, alone func() bool, c *codec.Codec, st *counters) *outbox {
	return &outbox{
		q: q, slots: make(map[outKey]*outSlot), self: self, maxSize: maxSize,
		maxBytes: int64(maxBytes), pruneTo: int64(maxBytes) * 9 / 10,
		alone: alone, codec: c, stats: st,
	}
}

// add queues w (a delta of origin's changes to e) for gossip. payload is
// w's encoding if the caller has it (nil if not): when w starts a new
// accumulation, the message reuses it instead of encoding w again. It
// reports false when w alone is too large for a packet: the caller must
// deliver it another way (the reliable stream). A node alone queues
// nothing (there is no one to gossip to; whoever joins gets the full state
// by the join's push/pull) and reports true.
func (o *outbox) add(now time.Time, e *entry, origin crdt.Replica, w wire, payload []byte) (bool, error) {
	if o.alone() {
		return true, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if e.gone.Load() {
		return true, nil // unshared (Node.Unshare dropped its slots): do not bring one back
	}
	k := outKey{e.name, origin}
	s := o.slots[k]
	if s == nil {
		s = &outSlot{base: e.name + "\x00" + origin.String()}
		o.slots[k] = s
	}
	if s.cur != nil && s.cur.done.Load() {
		s.acc, s.cur = nil, nil // the previous message has been sent often enough
	}
	if s.acc != nil && o.maxAge > 0 && now.Sub(s.since) > o.maxAge {
		// A stream that changes faster than its message is sent would
		// replace it forever and keep every old delta in circulation:
		// leave the queued message to run its course under a name
		// nothing replaces, and start a new accumulation.
		s.gen++
		s.acc, s.cur = nil, nil
	}
	var acc wire
	var msg []byte
	var err error
	if s.acc == nil {
		s.since = now
		acc = e.a.accumulate(now, nil, w)
		msg, err = o.envelope(e, origin, acc, payload)
	} else {
		acc = e.a.accumulate(now, s.acc, w)
		msg, err = o.envelope(e, origin, acc, nil)
	}
	if err != nil {
		return false, err
	}
	if len(msg) > o.maxSize && s.acc != nil {
		// The accumulation outgrew a packet: leave the queued message
		// (which fits) to run its course under a name nothing replaces,
		// and start a new accumulation with w alone.
		s.gen++
		s.since = now
		acc = e.a.accumulate(now, nil, w)
		if msg, err = o.envelope(e, origin, acc, payload); err != nil {
			return false, err
		}
	}
	if len(msg) > o.maxSize {
		s.acc, s.cur = nil, nil
		return false, nil
	}
	s.acc = acc
	s.cur = &broadcast{name: s.base + "\x00" + strconv.FormatUint(s.gen, 10), msg: msg, box: o, own: origin == o.self}
	o.queuedBytes.Add(int64(len(msg)))
	if s.cur.own {
		o.ownQueued.Add(1)
	}
	o.q.QueueBroadcast(s.cur)
	if o.queuedBytes.Load() > o.maxBytes {
		o.pruneQueue()
	}
	return true, nil
}

// envelope encodes the gossip message of w; payload, if not nil, is w's
// encoding already made.
func (o *outbox) envelope(e *entry, origin crdt.Replica, w wire, payload []byte) ([]byte, error) {
	if payload == nil {
		var err error
		if payload, err = e.a.encode(o.codec, nil, w); err != nil {
			return nil, err
		}
	}
	return o.codec.EncodeEnvelope(&codec.Envelope{
		Kind: codec.KindDelta, Name: e.name, Type: e.typeName, Origin: origin, Payload: payload,
	})
}

// pruneQueue drops queued messages until their bytes are at most pruneTo,
// those sent most often first (memberlist's Prune keeps the freshest), and
// counts them. Called with o.mu held, so no message is queued meanwhile,
// and with the gate closed, so none is taken: the queue shrinks by exactly
// the pruned messages. The cost is O(dropped · log queued), paid once per
// maxBytes−pruneTo bytes queued.
func (o *outbox) pruneQueue() {
	o.gate.Lock()
	defer o.gate.Unlock()
	for range 8 {
		b := o.queuedBytes.Load()
		k := o.q.NumQueued()
		if b <= o.pruneTo || k == 0 {
			return
		}
		drop := int((b-o.pruneTo)*int64(k)/b) + 1
		o.q.Prune(k - drop)
		o.stats.dropN(dropQueueFull, k-o.q.NumQueued())
	}
}

// getBroadcasts is the delegate's GetBroadcasts: the queued messages that
// fit in limit bytes.
func (o *outbox) getBroadcasts(overhead, limit int) [][]byte {
	o.gate.RLock()
	defer o.gate.RUnlock()
	return o.q.GetBroadcasts(overhead, limit)
}

// prune forgets slots whose message has left the queue, so the map does
// not grow with every (value, origin) ever seen.
func (o *outbox) prune() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, s := range o.slots {
		if s.cur == nil || s.cur.done.Load() {
			delete(o.slots, k)
		}
	}
}

// ownPending reports how many of this node's own messages are still
// queued.
func (o *outbox) ownPending() int64 { return o.ownQueued.Load() }
