// Package digest compares two nodes' values by compact summaries, so that
// anti-entropy transfers only the values that differ. It is pure: items
// (a value's name and the hash of its canonical encoded state) go in,
// summaries and the names to send come out.
//
// # The exchange
//
// Each side hashes every value's canonical state (equal states encode to
// equal bytes, so equal states hash equal) and folds the hashes into a
// fixed number of buckets chosen by the name, XOR-ing the hashes that fall
// in each: the Summary. Summaries are compared bucket by bucket; for the
// buckets that differ, a side sends the (name, hash) items it holds in
// them (Detail), and the other side answers with the states of its values
// whose hash differs or that the first side lacks (ToSend). Both sides do
// the same, so one round trip of details brings both up to date.
//
// A quiet exchange (nothing differs) costs 8 bytes per bucket, and
// Buckets chooses about one bucket per 16 values: for 100,000 values
// 8,192 buckets, 64 KiB, against tens of MiB of state.
package digest

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"hash/fnv"
	"slices"
)

// MaxBuckets bounds a summary: a peer's summary with more buckets is
// refused, so a summary costs at most 512 KiB.
const MaxBuckets = 1 << 16

// valuesPerBucket is the target bucket load: a differing value costs a
// detail of its bucket, about this many items.
const valuesPerBucket = 16

// Item is one value: its name and the hash of its type and canonical
// encoded state.
type Item struct {
	Name string
	Hash uint64
}

// Hash returns the hash of a value's state: of its type name, name and
// canonical encoding. Names and types are length-prefixed, so no two
// different triples hash the same input.
func Hash(typeName, name string, state []byte) uint64 {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(typeName)))
	h.Write(n[:])
	h.Write([]byte(typeName))
	binary.BigEndian.PutUint64(n[:], uint64(len(name)))
	h.Write(n[:])
	h.Write([]byte(name))
	h.Write(state)
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// Buckets returns the bucket count for a node holding values values: a
// power of two near values/16, at least 1, at most MaxBuckets.
func Buckets(values int) int {
	b := 1
	for b < MaxBuckets && b*valuesPerBucket < values {
		b <<= 1
	}
	return b
}

// Bucket returns the bucket of name among buckets (which must be > 0).
func Bucket(name string, buckets int) uint32 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return uint32(h.Sum64() % uint64(buckets))
}

// Summarize folds items into buckets hashes. A bucket with no item is 0.
func Summarize(items []Item, buckets int) []uint64 {
	sum := make([]uint64, buckets)
	for _, it := range items {
		sum[Bucket(it.Name, buckets)] ^= it.Hash
	}
	return sum
}

// Differing returns, in order, the buckets whose hashes differ between
// two summaries of the same length.
func Differing(local, remote []uint64) []uint32 {
	var out []uint32
	for i := range min(len(local), len(remote)) {
		if local[i] != remote[i] {
			out = append(out, uint32(i))
		}
	}
	return out
}

// Detail returns the items that fall in the given buckets (sorted by
// name), to send to a peer whose summary differed there.
func Detail(items []Item, buckets int, want []uint32) []Item {
	in := make(map[uint32]bool, len(want))
	for _, b := range want {
		in[b] = true
	}
	var out []Item
	for _, it := range items {
		if in[Bucket(it.Name, buckets)] {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b Item) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// ToSend returns the names of the local items, in the buckets a peer's
// detail covers, that the peer lacks or holds with another hash: the
// values whose state to send it. remote is the peer's detail for those
// buckets.
func ToSend(local []Item, buckets int, covered []uint32, remote []Item) []string {
	in := make(map[uint32]bool, len(covered))
	for _, b := range covered {
		in[b] = true
	}
	theirs := make(map[string]uint64, len(remote))
	for _, it := range remote {
		theirs[it.Name] = it.Hash
	}
	var out []string
	for _, it := range local {
		if !in[Bucket(it.Name, buckets)] {
			continue
		}
		if h, ok := theirs[it.Name]; !ok || h != it.Hash {
			out = append(out, it.Name)
		}
	}
	slices.Sort(out)
	return out
}
