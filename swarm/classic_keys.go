package swarm

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// DefaultMaxClassicKeys bounds the classic keys one node holds (one per
// client and group for skipper's cluster rate limits). Each key holds one
// entry per node that shares it, so the memory bound is MaxKeys × nodes ×
// the entry size (an int64 entry is about 60 bytes).
const DefaultMaxClassicKeys = 100_000

// classicPrefix namespaces classic keys among a node's values.
const classicPrefix = "classic/"

// dropClassicKeysFull counts a new classic key refused at Options.MaxKeys
// (a peer's value dropped, or a ShareValue refused).
const dropClassicKeysFull = "classic_keys_full"

// The sweep visits at most classicSweepChunk keys every classicSweepEvery,
// so its work per second is bounded whatever the number of keys, and a
// table of 100,000 keys is visited every 10 s.
const (
	classicSweepEvery = time.Second
	classicSweepChunk = 10_000
)

// classicKey is one classic key held by this node.
type classicKey struct {
	name string
	h    *Shared[*classicValue]
	idx  int // position in classicKeys.order; guarded by classicKeys.mu
	// expired is set by the sweep, under the value's lock, when no live
	// node shares the key any more; a ShareValue that finds it set
	// starts over with a fresh key.
	expired bool
}

// classicKeys is the table of classic keys: a map for lookups and a slice
// the sweep walks a chunk at a time.
type classicKeys struct {
	mu     sync.RWMutex
	byName map[string]*classicKey
	order  []*classicKey
	cursor int
	max    int
	batch  []*classicKey // the sweep's reusable chunk
}

func (t *classicKeys) init(maxKeys int) {
	if maxKeys == 0 {
		maxKeys = DefaultMaxClassicKeys
	}
	t.max = maxKeys
	t.byName = make(map[string]*classicKey)
}

func (t *classicKeys) get(key string) *classicKey {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byName[key]
}

// remove takes k out of the table; t.mu must be held.
func (t *classicKeys) remove(k *classicKey) {
	last := t.order[len(t.order)-1]
	t.order[k.idx] = last
	last.idx = k.idx
	t.order[len(t.order)-1] = nil
	t.order = t.order[:len(t.order)-1]
	delete(t.byName, k.name)
}

// Len returns how many classic keys this node holds.
func (s *Swarm) Len() int {
	s.keys.mu.RLock()
	defer s.keys.mu.RUnlock()
	return len(s.keys.byName)
}

// key returns the key's entry, registering it on the node if it is new
// and the budget allows.
func (s *Swarm) key(key string) (*classicKey, error) {
	if k := s.keys.get(key); k != nil {
		return k, nil
	}
	t := &s.keys
	t.mu.Lock()
	defer t.mu.Unlock()
	if k := t.byName[key]; k != nil {
		return k, nil
	}
	if len(t.byName) >= t.max {
		s.node.countDrop(dropClassicKeysFull)
		return nil, fmt.Errorf("%w: holding %d classic keys (Options.MaxKeys), refusing %q", ErrTooManyKeys, t.max, key)
	}
	h, err := Share(s.node, classicPrefix+key, func(self crdt.Replica) *classicValue {
		return newClassicValue(self, s.cd, s.reg, s.node)
	})
	if err != nil {
		return nil, err
	}
	k := &classicKey{name: key, h: h, idx: len(t.order)}
	t.byName[key] = k
	t.order = append(t.order, k)
	return k, nil
}

// arrival is the node's arrival function: a classic key a peer shares is
// registered as it arrives, within the key budget.
func (s *Swarm) arrival(name string) arrival {
	key, ok := strings.CutPrefix(name, classicPrefix)
	if !ok {
		return arrivalPending
	}
	if _, err := s.key(key); err != nil {
		if errors.Is(err, ErrTooManyKeys) {
			s.node.warnLimited(dropClassicKeysFull, "dropped a peer's value for a new classic key: the key budget is full",
				"max_keys", s.keys.max, "value", name)
			return arrivalRefused
		}
		return arrivalPending
	}
	return arrivalRegistered
}

// ShareValue makes value this node's value for key, for every node's
// Values(key). Repeated calls within one flush interval leave as one
// delta. value's type must be built in or registered (Options.Registry).
// A key this node does not hold yet counts against Options.MaxKeys
// (ErrTooManyKeys beyond it); a key this node shares never expires.
func (s *Swarm) ShareValue(key string, value interface{}) error {
	if s.node.Closed() {
		return ErrClosed
	}
	raw, err := s.cd.EncodeAny(s.reg, value)
	if err != nil {
		return fmt.Errorf("shoal/swarm: share %q: %w", key, err)
	}
	if len(raw) > s.maxBuf {
		return fmt.Errorf("shoal/swarm: share %q: %d bytes exceed MaxMessageBuffer %d", key, len(raw), s.maxBuf)
	}
	for {
		k, err := s.key(key)
		if err != nil {
			return fmt.Errorf("shoal/swarm: share %q: %w", key, err)
		}
		expired := false
		err = k.h.Update(func(cv *classicValue, _ time.Time) {
			if k.expired {
				expired = true
				return
			}
			cv.set(value, raw)
		})
		if err != nil || !expired {
			return err
		}
		// The sweep is taking the key out of the table: start over.
	}
}

// Values returns, for key, each node's name mapped to the last value that
// node shared, this node's own included. A node that left or failed
// disappears once memberlist declares it gone plus DepartedGrace, and a
// node that restarted shows its new run's value only. Reading a key
// registers nothing: a key no node shares returns an empty map, and a key
// whose every sharing node is gone is forgotten by the sweep (within
// DepartedGrace plus about 10 s at 100,000 keys).
func (s *Swarm) Values(key string) map[string]interface{} {
	out := make(map[string]interface{})
	if s.node.Closed() {
		return out
	}
	k := s.keys.get(key)
	if k == nil {
		return out
	}
	now := s.node.clock()
	self := s.node.Name()
	_ = k.h.mutate(func(cv *classicValue) {
		for i := 0; i < len(cv.Entries); i++ {
			e := &cv.Entries[i]
			if e.Node != self && s.departed(e, now) {
				cv.purge(e.Node, e.Incarnation)
				i--
				continue
			}
			if v, err := cv.value(i); err == nil {
				out[e.Node] = v
			}
		}
	})
	return out
}

// departed reports whether e belongs to a node gone for DepartedGrace or
// to an earlier run of a node that restarted. A node this one has not
// heard of yet counts as live: its value can arrive before the membership
// news does.
func (s *Swarm) departed(e *classicEntry, now time.Time) bool {
	m, ok := s.node.Member(e.Node)
	if !ok {
		return false
	}
	gone := m.State != MemberAlive && now.Sub(m.Since) >= s.grace
	return gone || m.Replica.Incarnation > e.Incarnation
}

func (s *Swarm) sweepLoop() {
	defer close(s.sweepDone)
	tick := time.NewTicker(classicSweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.node.done():
			return
		case <-tick.C:
			s.sweep()
		}
	}
}

// sweep visits the next chunk of keys: it purges departed nodes' entries
// and forgets a key left with none (no live node shares it, this one
// included). A peer's value that arrives for the key while it is being
// forgotten is lost until that peer's next update or the next
// anti-entropy exchange.
func (s *Swarm) sweep() {
	t := &s.keys
	t.mu.Lock()
	t.batch = t.batch[:0]
	for i := 0; i < classicSweepChunk && i < len(t.order); i++ {
		if t.cursor >= len(t.order) {
			t.cursor = 0
		}
		t.batch = append(t.batch, t.order[t.cursor])
		t.cursor++
	}
	batch := t.batch
	t.mu.Unlock()

	now := s.node.clock()
	self := s.node.Name()
	for _, k := range batch {
		empty := false
		err := k.h.mutate(func(cv *classicValue) {
			for i := 0; i < len(cv.Entries); i++ {
				e := &cv.Entries[i]
				if e.Node != self && s.departed(e, now) {
					cv.purge(e.Node, e.Incarnation)
					i--
				}
			}
			if len(cv.Entries) == 0 {
				k.expired = true
				empty = true
			}
		})
		if err != nil {
			return // the node stopped
		}
		if !empty {
			continue
		}
		t.mu.Lock()
		if t.byName[k.name] == k {
			unshare(s.node, k.h)
			t.remove(k)
		}
		t.mu.Unlock()
	}
}
