package swarm

import (
	"math"
	"sync/atomic"

	"github.com/shoal-go/shoal/crdt"
)

// Counter is a cluster-wide integer counter (a PN-counter): every node adds
// to its own slot, the value is the sum of all slots. Add is lock-free and
// allocates nothing: it adds to a pending total that is folded into the
// CRDT at the next flush or read.
type Counter struct {
	s *Shared[*crdt.PNCounter]
	// pending is the sum of the adds not yet folded into the CRDT, or
	// pendingSealed once Leave's last flush has taken it.
	pending atomic.Int64
}

// pendingSealed marks a pending total taken by a fold after Leave started:
// an Add that finds it returns ErrClosed, so every Add that returned nil
// is in the value Leave sent. No sum reaches it: Add takes the slow path
// instead.
const pendingSealed = math.MinInt64

// NewCounter registers (or returns) the counter name on n. Every call for
// the same name returns the same *Counter.
func NewCounter(n *Node, name string) (*Counter, error) {
	s, err := Share(n, name, crdt.NewPNCounter)
	if err != nil {
		return nil, err
	}
	return handleFor(s.e, func() *Counter {
		c := &Counter{s: s}
		s.e.prepare = c.fold
		return c
	})
}

// fold moves the pending adds into the CRDT; called with the entry locked.
// Once Leave has started it also seals the pending total.
func (c *Counter) fold() {
	var d int64
	if c.s.e.node.closing.Load() {
		d = c.pending.Swap(pendingSealed)
	} else {
		d = c.pending.Swap(0)
	}
	if d != 0 && d != pendingSealed {
		c.s.a.v.Add(d)
	}
}

// Add adds delta (negative to subtract) to this node's slot. It costs a
// few nanoseconds and allocates nothing; peers see it after the next flush.
// The pending total never wraps: an add that would overflow it goes
// straight into the CRDT, whose slots saturate at their maximum. Once
// Leave has started, Add either is in Leave's last flush or returns
// ErrClosed.
func (c *Counter) Add(delta int64) error {
	e := c.s.e
	if err := e.usable(); err != nil {
		return err
	}
	for {
		p := c.pending.Load()
		if p == pendingSealed {
			return ErrClosed
		}
		sum := p + delta
		if (sum > p) != (delta > 0) || sum == pendingSealed {
			return c.addLocked(delta) // the pending total would overflow
		}
		if c.pending.CompareAndSwap(p, sum) {
			break
		}
	}
	e.localUpdate()
	return nil
}

// addLocked adds delta to the CRDT under the value's lock (refused once
// Leave has started, as every locked update is).
func (c *Counter) addLocked(delta int64) error {
	return c.s.e.update(func() { c.s.a.v.Add(delta) })
}

// Value returns the cluster-wide sum as this node knows it, including its
// own adds not yet sent.
func (c *Counter) Value() (int64, error) {
	var v int64
	err := c.s.Read(func(p *crdt.PNCounter) { v = p.Value() })
	return v, err
}

// Shared returns the underlying typed handle.
func (c *Counter) Shared() *Shared[*crdt.PNCounter] { return c.s }
