package swarm

import (
	"fmt"
	"sort"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// classicValue is the CRDT behind one classic key: a register per node
// holding the last value that node shared, versioned by (incarnation,
// sequence). A reordered or duplicated message never overwrites a newer
// value, and a restarted node (higher incarnation) replaces its old entry.
// Values are carried as codec typed values, so they come back with their
// Go type.
type classicValue struct {
	Entries []classicEntry `cbor:"1,keyasint"`

	// Local state only.
	self  crdt.Replica
	cd    *codec.Codec
	reg   *codec.Registry
	seq   uint64
	dirty bool
	// node admits remote entries (live members at their announced
	// incarnation) and counts the refused; nil admits everything (tests of
	// the type alone).
	node *Node
}

type classicEntry struct {
	_           struct{} `cbor:",toarray"`
	Node        string
	Incarnation uint64
	Seq         uint64
	Raw         []byte

	val     any   // decoded Raw (local states only)
	decoded bool  // val is set
	err     error // why Raw did not decode
}

func (e *classicEntry) newer(o *classicEntry) bool {
	if e.Incarnation != o.Incarnation {
		return e.Incarnation > o.Incarnation
	}
	return e.Seq > o.Seq
}

var (
	_ crdt.Value[*classicValue]   = (*classicValue)(nil)
	_ crdt.Bounded[*classicValue] = (*classicValue)(nil)
)

// newClassicValue returns the local state of one classic key; n, if not
// nil, admits remote entries (see admit).
func newClassicValue(self crdt.Replica, cd *codec.Codec, reg *codec.Registry, n *Node) *classicValue {
	return &classicValue{self: self, cd: cd, reg: reg, node: n}
}

// Check binds a delta to its origin: it may carry only the origin's own
// entry, at the origin's incarnation. Membership is checked per entry in
// Merge instead, so that one stale entry in a peer's full state (a node
// that restarted, which the peer has not purged yet) does not refuse the
// whole state.
func (c *classicValue) Check(other *classicValue, origin crdt.Replica, _ crdt.Bounds) error {
	if origin.IsZero() {
		return nil
	}
	for _, oe := range other.Entries {
		if oe.Node != origin.Node || oe.Incarnation != origin.Incarnation {
			return fmt.Errorf("%w: %w: entry of %s#%d in a message from %s", crdt.ErrOutOfBounds, crdt.ErrForeignWrite, oe.Node, oe.Incarnation, origin)
		}
	}
	return nil
}

// Sanitize has nothing to do: a classic entry holds no count.
func (c *classicValue) Sanitize(crdt.Bounds) int { return 0 }

// admit reports whether a remote entry that would replace what c holds
// may: never one of this node's own entries (only this node writes them),
// and only a live member's at the incarnation its metadata announces. A
// forged entry at a real node's name and a higher incarnation would
// otherwise shadow every later value of that node, and one with a made-up
// name would stay in Values forever.
func (c *classicValue) admit(oe *classicEntry) error {
	if c.node == nil {
		return nil
	}
	if oe.Node == c.self.Node {
		return fmt.Errorf("%w: %w: entry of this node (%s#%d) from a peer", crdt.ErrOutOfBounds, crdt.ErrForeignWrite, oe.Node, oe.Incarnation)
	}
	m, ok := c.node.members.get(oe.Node)
	if !ok || m.State != MemberAlive {
		return fmt.Errorf("%w: %q", errClassicNotMember, oe.Node)
	}
	if m.Replica.Incarnation != oe.Incarnation {
		return fmt.Errorf("%w: %s#%d, member announces %d", errClassicIncarnation, oe.Node, oe.Incarnation, m.Replica.Incarnation)
	}
	return nil
}

func (c *classicValue) find(node string) (int, bool) {
	i := sort.Search(len(c.Entries), func(i int) bool { return c.Entries[i].Node >= node })
	return i, i < len(c.Entries) && c.Entries[i].Node == node
}

// set stores the local node's value; raw is its typed encoding.
func (c *classicValue) set(v any, raw []byte) {
	c.seq++
	e := classicEntry{Node: c.self.Node, Incarnation: c.self.Incarnation, Seq: c.seq, Raw: raw, val: v, decoded: true}
	i, ok := c.find(e.Node)
	if ok {
		c.Entries[i] = e
	} else {
		c.Entries = append(c.Entries, classicEntry{})
		copy(c.Entries[i+1:], c.Entries[i:])
		c.Entries[i] = e
	}
	c.dirty = true
}

func (c *classicValue) value(i int) (any, error) {
	e := &c.Entries[i]
	if !e.decoded && e.err == nil && c.reg != nil {
		e.val, e.err = c.cd.DecodeAny(c.reg, e.Raw)
		e.decoded = e.err == nil
	}
	return e.val, e.err
}

func (c *classicValue) Merge(now time.Time, other *classicValue) (*classicValue, bool) {
	var eff *classicValue
	for _, oe := range other.Entries {
		i, ok := c.find(oe.Node)
		if ok && !oe.newer(&c.Entries[i]) {
			continue
		}
		if err := c.admit(&oe); err != nil {
			c.node.rejectEntry(err)
			continue
		}
		ne := classicEntry{Node: oe.Node, Incarnation: oe.Incarnation, Seq: oe.Seq, Raw: append([]byte(nil), oe.Raw...)}
		if ok {
			c.Entries[i] = ne
		} else {
			c.Entries = append(c.Entries, classicEntry{})
			copy(c.Entries[i+1:], c.Entries[i:])
			c.Entries[i] = ne
		}
		if eff == nil {
			eff = &classicValue{}
		}
		eff.Entries = append(eff.Entries, classicEntry{Node: ne.Node, Incarnation: ne.Incarnation, Seq: ne.Seq, Raw: ne.Raw})
	}
	return eff, eff != nil
}

func (c *classicValue) Delta() (*classicValue, bool) {
	if !c.dirty {
		return nil, false
	}
	c.dirty = false
	i, ok := c.find(c.self.Node)
	if !ok {
		return nil, false
	}
	e := c.Entries[i]
	return &classicValue{Entries: []classicEntry{{Node: e.Node, Incarnation: e.Incarnation, Seq: e.Seq, Raw: e.Raw}}}, true
}

func (c *classicValue) Clone() *classicValue {
	out := &classicValue{Entries: make([]classicEntry, len(c.Entries))}
	for i, e := range c.Entries {
		out.Entries[i] = classicEntry{Node: e.Node, Incarnation: e.Incarnation, Seq: e.Seq, Raw: e.Raw}
	}
	return out
}

func (c *classicValue) Empty() *classicValue { return &classicValue{} }

func (c *classicValue) Validate() error {
	for i := range c.Entries {
		if c.Entries[i].Node == "" {
			return fmt.Errorf("classic value: entry %d has no node", i)
		}
		if i > 0 && c.Entries[i-1].Node >= c.Entries[i].Node {
			return fmt.Errorf("classic value: entries not sorted or duplicated at %q", c.Entries[i].Node)
		}
	}
	return nil
}

// purge drops the entry of node if it belongs to an incarnation at or below
// inc: a local clean-up of a departed node, not a replicated delete (every
// node purges on its own when it sees the departure).
func (c *classicValue) purge(node string, inc uint64) bool {
	i, ok := c.find(node)
	if !ok || c.Entries[i].Incarnation > inc {
		return false
	}
	c.Entries = append(c.Entries[:i], c.Entries[i+1:]...)
	return true
}

// rejectEntry counts and logs (rate-limited) one classic entry a merge
// refused.
func (n *Node) rejectEntry(err error) {
	reason := rejectReason(err)
	n.stats.reject(reason)
	n.warnLimited(reason, "rejected a classic entry from a peer", "reason", reason, "err", err)
}
