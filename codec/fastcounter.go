package codec

import (
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
	r := counterReader{reader: reader{data: data}, maxArray: c.limits.MaxArrayElements, maxPairs: c.limits.MaxMapPairs}
	switch t := v.(type) {
	case *crdt.GCounter:
		if t == nil || len(t.S) > 0 || len(t.Gone) > 0 {
			return false
		}
		s, ok := r.gcounter()
		if !ok || r.off != len(data) {
			return false
		}
		t.S = s
		return true
	case *crdt.PNCounter:
		if t == nil || len(t.P.S) > 0 || len(t.P.Gone) > 0 || len(t.N.S) > 0 || len(t.N.Gone) > 0 {
			return false
		}
		n, ok := r.mapHead()
		if !ok {
			return false
		}
		var p, m []crdt.Slot
		var seen [3]bool
		for range n {
			k, ok := r.uint()
			if !ok || (k != 1 && k != 2) || seen[k] {
				return false
			}
			seen[k] = true
			s, ok := r.gcounter()
			if !ok {
				return false
			}
			if k == 1 {
				p = s
			} else {
				m = s
			}
		}
		if r.off != len(data) {
			return false
		}
		t.P.S, t.N.S = p, m
		return true
	}
	return false
}

// counterReader reads the counter shapes; every method reports false for
// anything outside them.
type counterReader struct {
	reader
	maxArray, maxPairs int
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
func (r *counterReader) gcounter() ([]crdt.Slot, bool) {
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
	s := make([]crdt.Slot, count)
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
		s.Replica.Node = string(b)
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
