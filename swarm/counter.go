package swarm

import (
	"sync/atomic"

	"github.com/shoal-go/shoal/crdt"
)

// Counter is a cluster-wide integer counter (a PN-counter): every node adds
// to its own slot, the value is the sum of all slots. Add is lock-free and
// allocates nothing: it adds to a pending total that is folded into the
// CRDT at the next flush or read.
type Counter struct {
	s       *Shared[*crdt.PNCounter]
	pending atomic.Int64
}

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
func (c *Counter) fold() {
	if d := c.pending.Swap(0); d != 0 {
		c.s.a.v.Add(d)
	}
}

// Add adds delta (negative to subtract) to this node's slot. It costs a
// few nanoseconds and allocates nothing; peers see it after the next flush.
func (c *Counter) Add(delta int64) error {
	e := c.s.e
	if e.node.closed.Load() {
		return ErrClosed
	}
	c.pending.Add(delta)
	e.localUpdate()
	return nil
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
