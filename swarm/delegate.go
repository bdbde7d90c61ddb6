package swarm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// delegate is the Node as memberlist sees it. Every method returns quickly:
// decoding and merging happen under a value's short lock, nothing waits on
// a goroutine or a channel.
type delegate Node

const metaVersion = 1

// NodeMeta carries the local incarnation, so peers learn the replica
// identity of each member from membership alone.
func (d *delegate) NodeMeta(limit int) []byte {
	if limit < 9 {
		return nil
	}
	b := make([]byte, 9)
	b[0] = metaVersion
	binary.BigEndian.PutUint64(b[1:], d.self.Incarnation)
	return b
}

func parseMeta(b []byte) (incarnation uint64, ok bool) {
	if len(b) < 9 || b[0] != metaVersion {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[1:9]), true
}

// NotifyMsg receives a packet or stream message: one envelope or a batch.
func (d *delegate) NotifyMsg(buf []byte) {
	n := (*Node)(d)
	// A message that arrives while New is still starting the node (a
	// restarted node's peers still send to its address) is dropped:
	// anti-entropy at the join carries what it held.
	if n.live.Load() == nil || n.closed.Load() || len(buf) == 0 {
		return
	}
	// Deltas, gossiped or sent directly, are relayed as the change they
	// caused; a node that learned nothing new relays nothing. Past the
	// fast path the broadcast tree relays; gossip carries only the
	// origin's copy, as a safety net. A burst came over the stream from
	// its origin to every member: nothing to relay.
	in := n.inbound()
	take := func(env *codec.Envelope) {
		n.stats.received(env.Kind, len(env.Payload))
		n.receive(env, (env.Kind == codec.KindDelta && !n.treeActive()) || env.Kind == kindDirect, in)
	}
	// One envelope or a batch, told apart by the CBOR major type of the
	// first byte (map or array). A batch is taken envelope by envelope as
	// it decodes (a burst holds thousands); one that fails to decode part
	// way has had its envelopes before that point merged, each checked on
	// its own as always.
	if buf[0]>>5 == 4 {
		if err := n.codec.DecodeBatchEach(buf, take); err != nil {
			n.stats.reject(rejectDecode)
			n.warnLimited(rejectDecode, "dropped a message that does not decode", "bytes", len(buf), "err", err)
		}
		return
	}
	env, err := n.codec.DecodeEnvelope(buf)
	if err != nil {
		n.stats.reject(rejectDecode)
		n.warnLimited(rejectDecode, "dropped a message that does not decode", "bytes", len(buf), "err", err)
		return
	}
	take(&env)
}

// inbound is what the envelopes of one message share: the time they
// arrived, and the origin last found announced. The envelopes of a batch
// (a burst holds thousands, all from one origin) then read the clock and
// the member table once per inboundRefresh envelopes, not once each: the
// two were 8 % of the CPU of shoalbench burst (10 nodes, profiled).
// An inbound is used by one goroutine.
type inbound struct {
	now    time.Time
	origin crdt.Replica // checkOrigin accepted it at now; zero if none
	uses   int
}

// inboundRefresh is how many envelopes an inbound serves before it reads
// the clock again and checks its origin anew: a batch is merged in well
// under a millisecond per hundred envelopes, so its clock is that fresh.
const inboundRefresh = 64

func (n *Node) inbound() *inbound { return &inbound{now: n.now()} }

// take counts one more envelope, refreshing in once it has served
// inboundRefresh.
func (in *inbound) take(n *Node) {
	if in.uses++; in.uses > inboundRefresh {
		*in = inbound{now: n.now(), uses: 1}
	}
}

// receive merges one envelope of the message in belongs to (nil: a message
// of its own). forward relays what it changed by gossip.
func (n *Node) receive(env *codec.Envelope, forward bool, in *inbound) {
	switch env.Kind {
	case codec.KindDelta, codec.KindState, kindDirect, kindBurst:
	case kindPack:
		n.receivePack(env, in)
		return
	case kindLeave:
		n.members.leaving(env.Origin)
		return
	case kindTree:
		// Called directly, not through handlers: a call through a
		// function value makes env escape, and every packet's envelope
		// was then allocated (6 % of a 500-node cluster's allocation).
		if n.tree != nil {
			n.tree.onEnvelope(env)
		}
		return
	default:
		n.handlersMu.RLock()
		h := n.handlers[env.Kind]
		n.handlersMu.RUnlock()
		if h != nil {
			cp := *env // a handler may keep it; env must not escape
			h(&cp)
		}
		return
	}
	n.valuesMu.RLock()
	e := n.values[env.Name]
	n.valuesMu.RUnlock()
	n.receiveValue(e, env, forward, in)
}

// receivePack merges each value of a burst's pack (kindPack) as a
// kindBurst envelope of the pack's type and origin. A registered value's
// envelope takes the entry's name, so that the name is not copied out of
// the message. An entry that does not decode ends the pack; those before
// it were merged, each checked on its own.
func (n *Node) receivePack(pack *codec.Envelope, in *inbound) {
	env := codec.Envelope{Version: pack.Version, Kind: kindBurst, Type: pack.Type, Origin: pack.Origin, Seq: pack.Seq}
	_, err := n.codec.DecodePackEach(pack.Payload, func(name, payload []byte) {
		n.valuesMu.RLock()
		e := n.values[string(name)]
		n.valuesMu.RUnlock()
		if e != nil {
			env.Name = e.name
		} else {
			env.Name = string(name)
		}
		env.Payload = payload
		n.stats.received(kindBurst, len(payload))
		n.receiveValue(e, &env, false, in)
	})
	if err != nil {
		n.stats.reject(rejectDecode)
		n.warnLimited(rejectDecode, "dropped the rest of a burst that does not decode", "origin", pack.Origin.String(), "bytes", len(pack.Payload), "err", err)
	}
}

// receiveValue merges env into e, the value registered under env's name,
// or nil if none is: then it registers the value if an arrival hook says
// so (hooks.go), or holds env until it is registered (pending.go).
func (n *Node) receiveValue(e *entry, env *codec.Envelope, forward bool, in *inbound) {
	if e == nil {
		switch n.arrived(env.Name) {
		case arrivalRegistered:
			n.valuesMu.RLock()
			e = n.values[env.Name]
			n.valuesMu.RUnlock()
		case arrivalRefused:
			return
		}
	}
	if e == nil {
		n.pending.put(env) // counts what it evicts or refuses
		return
	}
	n.mergeOrHold(e, env, forward, in, "rejected a value from a peer")
}

// mergeOrHold merges env into e, holding a delta whose origin is not
// announced yet until it is (early.go), and counts and logs a refusal with
// msg. in is as for receive.
func (n *Node) mergeOrHold(e *entry, env *codec.Envelope, forward bool, in *inbound, msg string) {
	err := n.mergeEnvelope(e, env, forward, in)
	if err == nil || errors.Is(err, errOriginUnannounced) && n.park(env, forward) {
		return
	}
	n.rejectValue(env, err, msg)
}

// mergeEnvelope checks the origin of one envelope, then decodes, validates,
// checks and merges it into e
// (see "Validation" in docs/DESIGN.md). A delta, gossiped, relayed or
// direct, is bound to its origin: the origin must be a member's announced
// replica, and the delta may write only the origin's slots, raised by at
// most MaxCountStep. A full state may write any slot within
// MaxCount and MaxReplicas, and merging one first drops local counts above
// MaxCount, so a node poisoned before the bound was enforced heals from
// its next anti-entropy exchange. in is as for receive.
func (n *Node) mergeEnvelope(e *entry, env *codec.Envelope, forward bool, in *inbound) error {
	if in == nil {
		in = n.inbound()
	}
	in.take(n)
	if env.Type != e.typeName {
		return fmt.Errorf("%w: %q is %s here, %s at %s", ErrTypeMismatch, e.name, e.typeName, env.Type, env.Origin)
	}
	// The origin first: a delta held until its origin is announced is
	// decoded once, when it is merged, and one refused is not decoded.
	var origin crdt.Replica // zero: a full state, not bound to one replica
	if env.Kind != codec.KindState {
		origin = env.Origin
		if origin != in.origin {
			if err := n.checkOrigin(origin); err != nil {
				return fmt.Errorf("%q: %w", e.name, err)
			}
			in.origin = origin
		}
	}
	w, err := e.a.decode(n.codec, env.Payload)
	if err != nil {
		return fmt.Errorf("decode %q: %w", e.name, err)
	}
	now := in.now
	e.mu.Lock()
	if e.gone.Load() {
		e.mu.Unlock()
		n.pending.put(env) // unshared since it was looked up: as for any unregistered name
		return nil
	}
	healed := 0
	if origin.IsZero() {
		healed = e.a.sanitize(n.cfg.bounds(now))
	}
	if err := e.a.check(w, origin, n.cfg.bounds(now)); err != nil {
		e.mu.Unlock()
		n.noteHealed(e, healed)
		return fmt.Errorf("%q from %s: %w", e.name, env.Origin, err)
	}
	effect, changed := e.a.merge(now, w)
	e.mu.Unlock()
	n.noteHealed(e, healed)
	if !changed {
		return nil
	}
	e.changed()
	if forward {
		queued, err := n.out.add(now, e, env.Origin, effect, nil)
		if err != nil {
			return fmt.Errorf("forward %q: %w", e.name, err)
		}
		if !queued {
			n.stats.drop(dropRelayTooLarge) // anti-entropy carries it
		}
	}
	return nil
}

// GetBroadcasts hands memberlist the queued deltas that fit in a packet.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	n := (*Node)(d)
	msgs := n.out.getBroadcasts(overhead, limit)
	for _, m := range msgs {
		n.stats.sent(codec.KindDelta, len(m))
	}
	return msgs
}

// LocalState is this node's side of a push/pull: its digest (see
// antientropy.go), and on a join also the full state of every value, cut at
// MaxStateBytes.
func (d *delegate) LocalState(join bool) []byte { return (*Node)(d).localState(join) }

// MergeRemoteState merges a peer's push/pull state and hands its digest to
// the anti-entropy worker. What it changes is not relayed: every node runs
// its own anti-entropy.
func (d *delegate) MergeRemoteState(buf []byte, join bool) { (*Node)(d).mergeRemoteState(buf) }
