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
	// done is set by memberlist when the message leaves the queue (sent
	// often enough, or replaced). It is only a flag: Finished runs under
	// the queue's lock and must not take ours.
	done atomic.Bool
}

func (b *broadcast) Name() string                            { return b.name }
func (b *broadcast) Invalidates(o memberlist.Broadcast) bool { return false }
func (b *broadcast) Message() []byte                         { return b.msg }
func (b *broadcast) Finished()                               { b.done.Store(true) }

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

// outbox owns the transmit-limited queue. Lock order: outbox.mu, then the
// queue's own lock (taken inside QueueBroadcast); memberlist calls
// Finished with the queue's lock held, which only sets a flag.
type outbox struct {
	mu      sync.Mutex
	q       *memberlist.TransmitLimitedQueue
	slots   map[outKey]*outSlot
	maxSize int // largest message that fits one gossip packet
	codec   *codec.Codec
	stats   *counters
	// maxAge bounds how long an accumulation grows before its message is
	// sealed and a new one starts.
	maxAge time.Duration
}

func newOutbox(q *memberlist.TransmitLimitedQueue, maxSize int, c *codec.Codec, st *counters) *outbox {
	return &outbox{q: q, slots: make(map[outKey]*outSlot), maxSize: maxSize, codec: c, stats: st}
}

// add queues w (a delta of origin's changes to e) for gossip. It reports
// false when w alone is too large for a packet: the caller must deliver it
// another way (the reliable stream).
func (o *outbox) add(now time.Time, e *entry, origin crdt.Replica, w wire) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
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
	if s.acc == nil {
		s.since = now
	}
	acc := e.a.accumulate(now, s.acc, w)
	msg, err := o.envelope(e, origin, acc)
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
		if msg, err = o.envelope(e, origin, acc); err != nil {
			return false, err
		}
	}
	if len(msg) > o.maxSize {
		s.acc, s.cur = nil, nil
		return false, nil
	}
	s.acc = acc
	s.cur = &broadcast{name: s.base + "\x00" + strconv.FormatUint(s.gen, 10), msg: msg}
	o.q.QueueBroadcast(s.cur)
	return true, nil
}

func (o *outbox) envelope(e *entry, origin crdt.Replica, w wire) ([]byte, error) {
	payload, err := e.a.encode(o.codec, w)
	if err != nil {
		return nil, err
	}
	return o.codec.EncodeEnvelope(&codec.Envelope{
		Kind: codec.KindDelta, Name: e.name, Type: e.typeName, Origin: origin, Payload: payload,
	})
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

// pendingFrom reports how many of origin's messages are still queued.
func (o *outbox) pendingFrom(origin crdt.Replica) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for k, s := range o.slots {
		if k.origin == origin && s.cur != nil && !s.cur.done.Load() {
			n++
		}
	}
	return n
}
