package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// This file is the seam between the engine and the adapters this package
// builds on it (today the classic API, classic*.go). An adapter uses the
// typed API (Share, Shared[T], Member, Name, Addr, Closed) and these hooks,
// and nothing else of the Node: it never takes the Node's locks, reads its
// member, handler or value tables, or touches its transport. The engine
// keeps no adapter-specific state: a hook is a kind handler or an arrival
// function, whoever installs it.
//
// Every hook that runs on memberlist's goroutines (a kind handler, the
// arrival function) must return quickly and must not block: it runs inside
// NotifyMsg or MergeRemoteState.

// errHookTaken is wrapped by a hook installed twice on one node.
var errHookTaken = errors.New("shoal/swarm: hook already installed on this node")

// arrival is what an arrival function decides for a value that arrives
// for a name not registered on this node.
type arrival int

const (
	// arrivalPending keeps the value in the bounded pending store until
	// the name is registered (what happens without an arrival function).
	arrivalPending arrival = iota
	// arrivalRegistered: the function registered the name; merge now.
	arrivalRegistered
	// arrivalRefused: the function refused the name and counted why (a
	// budget); the value is dropped, not kept in the pending store.
	arrivalRefused
)

// engineKind reports whether the engine itself handles envelopes of kind.
func engineKind(k codec.Kind) bool {
	switch k {
	case codec.KindDelta, codec.KindState, kindDirect, kindLeave, kindTree, kindBurst, kindPack:
		return true
	}
	return false
}

// handleKind installs h for every envelope of kind this node receives. It
// fails for a kind the engine handles and for a kind that already has a
// handler (errHookTaken). h runs on memberlist's goroutine.
func (n *Node) handleKind(kind codec.Kind, h func(env *codec.Envelope)) error {
	if engineKind(kind) || kind == 0 {
		return fmt.Errorf("shoal/swarm: kind %s is the engine's", kind)
	}
	n.handlersMu.Lock()
	defer n.handlersMu.Unlock()
	if n.handlers[kind] != nil {
		return fmt.Errorf("%w: handler for kind %s", errHookTaken, kind)
	}
	n.handlers[kind] = h
	return nil
}

// onArrival installs fn, asked once per envelope that arrives for a name
// not registered here (before the engine would park it in the pending
// store). One function per node: a second call fails with errHookTaken.
// fn runs on memberlist's goroutine and may call Share.
func (n *Node) onArrival(fn func(name string) arrival) error {
	n.handlersMu.Lock()
	defer n.handlersMu.Unlock()
	if n.arrival != nil {
		return fmt.Errorf("%w: arrival function", errHookTaken)
	}
	n.arrival = fn
	return nil
}

// arrived asks the arrival function, if any, about name.
func (n *Node) arrived(name string) arrival {
	n.handlersMu.RLock()
	fn := n.arrival
	n.handlersMu.RUnlock()
	if fn == nil {
		return arrivalPending
	}
	return fn(name)
}

// sendToMembers sends payload as an envelope of kind from this replica to
// every live member now: in one packet when it fits, else over the
// reliable stream (which blocks up to TCPTimeout per member). It is not
// stored, queued for gossip or relayed. The error joins every member that
// could not be sent to.
func (n *Node) sendToMembers(kind codec.Kind, payload []byte) error {
	if n.closed.Load() {
		return ErrClosed
	}
	msg, err := n.codec.EncodeEnvelope(&codec.Envelope{Kind: kind, Origin: n.self, Payload: payload})
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range n.members.peers() {
		if len(msg) <= n.maxPkt {
			err = n.ml.SendBestEffort(m, msg)
		} else {
			err = n.ml.SendReliable(m, msg)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("to %s: %w", m.Name, err))
			continue
		}
		n.stats.sent(kind, len(msg))
	}
	return errors.Join(errs...)
}

// unshare removes the value registered under name from this node, if it
// is still h's entry: the name is no longer merged, sent or offered to
// anti-entropy, and a later arrival for it goes to the arrival function
// again. A delta of it already queued still leaves. The handle h stays
// usable but is detached; the adapter must stop using it.
func unshare[T crdt.Value[T]](n *Node, h *Shared[T]) bool {
	n.valuesMu.Lock()
	defer n.valuesMu.Unlock()
	if n.values[h.e.name] != h.e {
		return false
	}
	delete(n.values, h.e.name)
	return true
}

// mutate calls fn with the local replica under the value's lock, for a
// local clean-up that must not be sent (a departed node's entry purged, a
// cached decoding): unlike Update it marks nothing dirty.
func (s *Shared[T]) mutate(fn func(v T)) error {
	if s.e.node.closed.Load() {
		return ErrClosed
	}
	s.e.mu.Lock()
	if s.e.gone.Load() {
		s.e.mu.Unlock()
		return ErrUnshared
	}
	fn(s.a.v)
	s.e.mu.Unlock()
	return nil
}

// wire returns the node's codec (its limits are the node's).
func (n *Node) wire() *codec.Codec { return n.codec }

// clock returns the node's time (Config.Now).
func (n *Node) clock() time.Time { return n.now() }

// logger returns the node's logger.
func (n *Node) logger() *slog.Logger { return n.log }

// done is closed when the node stops (Leave or Close).
func (n *Node) done() <-chan struct{} { return n.ctx.Done() }

// countDrop and countReject count by reason into Stats.Drops and
// Stats.Rejected (see reasons.go).
func (n *Node) countDrop(reason string)   { n.stats.drop(reason) }
func (n *Node) countReject(reason string) { n.stats.reject(reason) }

// joinContext bounds a Join made on the node's behalf by TCPTimeout per
// peer and ends when the node stops.
func (n *Node) joinContext(peers int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(n.ctx, time.Duration(max(peers, 1))*n.cfg.TCPTimeout)
}
