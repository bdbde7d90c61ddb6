package codec

import (
	"sync/atomic"
	"unicode/utf8"

	"github.com/shoal-go/shoal/crdt"
)

// Counters are most of what a burst carries (measured with shoalbench
// burst: decoding 5,000 counter deltas through fxamacker/cbor's reflection
// took a quarter of every receiver's CPU). unmarshalCounter decodes the
// shape Marshal writes for *crdt.GCounter and *crdt.PNCounter by hand, and
// declines (ok false) anything else: retirement records, a key it does not
// expect, a duplicate key, a non-shortest or unexpected item, trailing
// bytes, a target that is not empty, limits tighter than the shape needs.
// Unmarshal then decodes through fxamacker/cbor, which accepts or rejects
// it exactly as before. So the fast path never rejects anything, and what
// it accepts the reflective decoder accepts with the same result
// (FuzzCounterFastPath checks it).
func (c *Codec) unmarshalCounter(data []byte, v any) (ok bool) {
	// The deepest item is a replica's node name, five levels down in a
	// PN counter; a limit below that is the generic decoder's to enforce.
	if c.limits.MaxNestedLevels < 6 {
		return false
	}
	r := counterReader{reader: reader{data: data}, maxArray: c.limits.MaxArrayElements, maxPairs: c.limits.MaxMapPairs, names: c.names}
	switch t := v.(type) {
	case *crdt.GCounter:
		if t == nil || len(t.S) > 0 || len(t.Gone) > 0 {
			return false
		}
		s, ok := r.gcounter(nil)
		if !ok || r.off != len(data) {
			return false
		}
		t.S = s
		return true
	case *crdt.PNCounter:
		if t == nil || len(t.P.S) > 0 || len(t.P.Gone) > 0 || len(t.N.S) > 0 || len(t.N.Gone) > 0 {
			return false
		}
		p, m, ok := r.pncounter(nil)
		if !ok || r.off != len(data) {
			return false
		}
		t.P.S, t.N.S = p, m
		return true
	}
	return false
}

// DecodePNCounter decodes data as Unmarshal does into a new
// *crdt.PNCounter, which it returns; a state of two slots or fewer in the
// shape Marshal writes costs one allocation (crdt.PNCounterOf), not two,
// the state and then its slots: a burst's counter deltas each hold one
// slot, and those allocations were two thirds of what a receiver
// allocated (BenchmarkBurst5000Values). The errors are Unmarshal's.
func (c *Codec) DecodePNCounter(data []byte) (*crdt.PNCounter, error) {
	if c.err == nil && len(data) <= c.limits.MaxMessageBytes && c.limits.MaxNestedLevels >= 6 {
		var room [2]crdt.Slot
		r := counterReader{reader: reader{data: data}, maxArray: c.limits.MaxArrayElements, maxPairs: c.limits.MaxMapPairs, names: c.names}
		if p, m, ok := r.pncounter(room[:0]); ok && r.off == len(data) {
			return crdt.PNCounterOf(p, m), nil
		}
	}
	t := new(crdt.PNCounter)
	if err := c.Unmarshal(data, t); err != nil {
		return nil, err
	}
	return t, nil
}

// counterReader reads the counter shapes; every method reports false for
// anything outside them.
type counterReader struct {
	reader
	maxArray, maxPairs int
	names              *nameCache
}

// pncounter reads a PN counter, {1: increments, 2: decrements} with either
// absent: its halves' slots go into room's spare capacity while they fit
// (the first half's, then the second's), into new arrays otherwise. An
// absent or empty half is nil.
func (r *counterReader) pncounter(room []crdt.Slot) (p, m []crdt.Slot, ok bool) {
	n, ok := r.mapHead()
	if !ok {
		return nil, nil, false
	}
	var seen [3]bool
	for range n {
		k, ok := r.uint()
		if !ok || (k != 1 && k != 2) || seen[k] {
			return nil, nil, false
		}
		seen[k] = true
		s, ok := r.gcounter(room)
		if !ok {
			return nil, nil, false
		}
		if len(s) <= cap(room) { // s went into room, or is nil
			room = room[len(s):len(s)]
		}
		if k == 1 {
			p = s
		} else {
			m = s
		}
	}
	return p, m, true
}

// nameCache holds replica names the counter fast path decoded lately, so
// that a burst's deltas from one origin share one string for its name
// instead of allocating one per value, and so do the slots they insert
// into thousands of counters. It is bounded: nameCacheSize names of at
// most maxCachedName bytes. Names a peer makes up only replace others;
// they never grow it. Entries are swapped atomically, so the Codec stays
// safe for concurrent use.
type nameCache [nameCacheSize]atomic.Pointer[string]

const (
	nameCacheSize = 64
	maxCachedName = 128
)

// get returns b as a string, the cached one when b matches it.
func (nc *nameCache) get(b []byte) string {
	if nc == nil || len(b) > maxCachedName {
		return string(b)
	}
	h := uint32(2166136261) // FNV-1a
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	e := &nc[h%nameCacheSize]
	if p := e.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	e.Store(&s)
	return s
}

// appendCounter appends the encoding of a *crdt.GCounter or
// *crdt.PNCounter without retirement records, byte for byte what
// fxamacker/cbor writes for it (TestCounterFastPathEncodesAsCBORDoes and
// FuzzCounterFastPath check it), and declines (ok false) anything else: a
// nil counter, retirement records, a name that is not valid UTF-8, more
// slots than MaxArrayElements, limits tighter than the shape needs.
// AppendMarshal then encodes through fxamacker/cbor as before. Encoding a
// flush's 5,000 counter deltas through reflection took four allocations
// and a well-formedness pass per value (BenchmarkMarshalPNCounterDelta).
func (c *Codec) appendCounter(dst []byte, v any) (out []byte, ok bool) {
	if c.limits.MaxNestedLevels < 6 {
		return dst, false
	}
	switch t := v.(type) {
	case *crdt.GCounter:
		if t == nil || !c.plainCounter(t) {
			return dst, false
		}
		return appendGCounter(dst, t), true
	case *crdt.PNCounter:
		if t == nil || !c.plainCounter(&t.P) || !c.plainCounter(&t.N) {
			return dst, false
		}
		dst = append(dst, majorMap<<5|2, majorUint<<5|1)
		dst = appendGCounter(dst, &t.P)
		dst = append(dst, majorUint<<5|2)
		return appendGCounter(dst, &t.N), true
	}
	return dst, false
}

// plainCounter reports whether appendGCounter can write g as
// fxamacker/cbor would, within c's limits.
func (c *Codec) plainCounter(g *crdt.GCounter) bool {
	if len(g.Gone) > 0 || len(g.S) > c.limits.MaxArrayElements {
		return false
	}
	for i := range g.S {
		if !utf8.ValidString(g.S[i].Replica.Node) {
			return false
		}
	}
	return true
}

// appendGCounter writes {1: [[{1: node, 2: incarnation}, n], ...]}, or {}
// for no slots (the field is omitempty).
func appendGCounter(dst []byte, g *crdt.GCounter) []byte {
	if len(g.S) == 0 {
		return append(dst, majorMap<<5)
	}
	dst = append(dst, majorMap<<5|1, majorUint<<5|1)
	dst = appendHead(dst, majorArray, uint64(len(g.S)))
	for i := range g.S {
		s := &g.S[i]
		dst = append(dst, majorArray<<5|2, majorMap<<5|2, majorUint<<5|1)
		dst = appendText(dst, s.Replica.Node)
		dst = append(dst, majorUint<<5|2)
		dst = appendUint(dst, s.Replica.Incarnation)
		dst = appendUint(dst, s.N)
	}
	return dst
}

// uint reads an unsigned integer in its shortest form.
func (r *counterReader) uint() (uint64, bool) {
	h, err := r.head()
	if err != nil || h.major != majorUint || !shortest(h) {
		return 0, false
	}
	return h.arg, true
}

func (r *counterReader) mapHead() (int, bool) {
	h, err := r.head()
	if err != nil || h.major != majorMap || !shortest(h) || h.arg > uint64(r.maxPairs) {
		return 0, false
	}
	n, err := r.count(h, 2)
	return n, err == nil
}

// gcounter reads a GCounter's map: key 1, the slots, or nothing. Key 3
// (retirement records) is left to the generic decoder.
//
// The slots go into room (length zero) if they fit its capacity, capped
// at their number, and into a new array otherwise.
func (r *counterReader) gcounter(room []crdt.Slot) ([]crdt.Slot, bool) {
	n, ok := r.mapHead()
	if !ok || n > 1 {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	if k, ok := r.uint(); !ok || k != 1 {
		return nil, false
	}
	h, err := r.head()
	if err != nil || h.major != majorArray || !shortest(h) || h.arg > uint64(r.maxArray) {
		return nil, false
	}
	// A slot takes at least 3 bytes: array head, map head, count.
	count, err := r.count(h, 3)
	if err != nil || count == 0 { // Marshal omits an empty list
		return nil, false
	}
	var s []crdt.Slot
	if count <= cap(room) {
		s = room[:count:count]
	} else {
		s = make([]crdt.Slot, count)
	}
	for i := range s {
		if s[i], ok = r.slot(); !ok {
			return nil, false
		}
	}
	return s, true
}

// slot reads [replica, n], the replica a map {1: node, 2: incarnation}
// with either key absent (it is then zero) but not repeated.
func (r *counterReader) slot() (crdt.Slot, bool) {
	var s crdt.Slot
	h, err := r.head()
	if err != nil || h.major != majorArray || h.ai != 2 {
		return s, false
	}
	pairs, ok := r.mapHead()
	if !ok || pairs > 2 {
		return s, false
	}
	var seen [3]bool
	for range pairs {
		k, ok := r.uint()
		if !ok || (k != 1 && k != 2) || seen[k] {
			return s, false
		}
		seen[k] = true
		if k == 2 {
			if s.Replica.Incarnation, ok = r.uint(); !ok {
				return s, false
			}
			continue
		}
		th, err := r.head()
		if err != nil || th.major != majorText || !shortest(th) {
			return s, false
		}
		b, err := r.payload(th)
		if err != nil || !utf8.Valid(b) {
			return s, false
		}
		s.Replica.Node = r.names.get(b)
	}
	if s.N, ok = r.uint(); !ok {
		return s, false
	}
	return s, true
}

// shortest reports whether h's argument is in its shortest encoding, as
// Marshal writes it (the fast path accepts nothing else).
func shortest(h head) bool {
	switch h.ai {
	case 24:
		return h.arg >= 24
	case 25:
		return h.arg > 0xff
	case 26:
		return h.arg > 0xffff
	case 27:
		return h.arg > 0xffffffff
	}
	return h.ai < 24
}
