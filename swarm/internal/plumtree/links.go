package plumtree

import (
	"math/bits"
	"slices"
	"strings"
)

// slots numbers a node's neighbours, so that a tree over them is a bitset
// of slot numbers: an eager link's bit is set, a lazy one's clear. An
// origin's tree then costs a word per 64 neighbours, with nothing for the
// garbage collector to scan, where two maps of peer names cost 613 bytes
// at 8 neighbours (BenchmarkOriginTrees), and 61 MB of the 344 MB live
// heap of a 500-node cluster in one process during its updates. A freed
// slot is used again; the neighbour leaving cleared its bit in every
// tree.
type slots struct {
	peers  []Peer       // by slot; "" for a free one
	index  map[Peer]int // slot by peer
	sorted []int        // the slots in use, in the order of their peers
	free   []int
}

func newSlots() slots { return slots{index: make(map[Peer]int)} }

// slot returns p's slot, if p is a neighbour.
func (s *slots) slot(p Peer) (int, bool) {
	i, ok := s.index[p]
	return i, ok
}

// len returns the number of neighbours.
func (s *slots) len() int { return len(s.index) }

// add gives p, not a neighbour yet, a slot and returns it.
func (s *slots) add(p Peer) int {
	var i int
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
		s.peers[i] = p
	} else {
		i = len(s.peers)
		s.peers = append(s.peers, p)
	}
	s.index[p] = i
	at := s.search(p)
	s.sorted = slices.Insert(s.sorted, at, i)
	return i
}

// remove frees neighbour p's slot and returns it.
func (s *slots) remove(p Peer) (int, bool) {
	i, ok := s.index[p]
	if !ok {
		return 0, false
	}
	at := s.search(p)
	s.sorted = slices.Delete(s.sorted, at, at+1)
	delete(s.index, p)
	s.peers[i] = ""
	s.free = append(s.free, i)
	return i, true
}

// search returns where p is, or belongs, in sorted.
func (s *slots) search(p Peer) int {
	at, _ := slices.BinarySearchFunc(s.sorted, p, func(i int, p Peer) int {
		return strings.Compare(string(s.peers[i]), string(p))
	})
	return at
}

// peersOf returns the neighbours whose bit in b is on (eager) or off
// (lazy), sorted.
func (s *slots) peersOf(b bitset, on bool) []Peer {
	var out []Peer
	for _, i := range s.sorted {
		if b.has(i) == on {
			out = append(out, s.peers[i])
		}
	}
	return out
}

// bitset is a set of slots.
type bitset []uint64

func (b bitset) has(i int) bool {
	w := i >> 6
	return w < len(b) && b[w]&(1<<(uint(i)&63)) != 0
}

// set turns slot i's bit on or off.
func (b *bitset) set(i int, on bool) {
	w := i >> 6
	if !on {
		if w < len(*b) {
			(*b)[w] &^= 1 << (uint(i) & 63)
		}
		return
	}
	if w >= len(*b) {
		*b = append(*b, make(bitset, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (uint(i) & 63)
}

// count returns the number of slots in the set.
func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}
