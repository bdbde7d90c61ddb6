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

var _ crdt.Value[*classicValue] = (*classicValue)(nil)

func newClassicValue(self crdt.Replica, cd *codec.Codec, reg *codec.Registry) *classicValue {
	return &classicValue{self: self, cd: cd, reg: reg}
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
