package crdt

import "slices"

// The replicated states keep their entries in sorted slices (canonical
// order, so equal states encode to equal bytes); these helpers keep them so.

// searchFaster reports whether placing m sorted keys among n sorted
// entries is cheaper by a binary search for each, O(m·log n), than by one
// walk over both, O(n+m): when m is a small share of n (a delta's few
// slots against a full state), as for seek and insertSorted.
func searchFaster(m, n int) bool { return m*8 < n }

// insertSorted merges the sorted ins, whose keys dst does not hold, into
// the sorted dst, growing it in place from the back: each element of ins
// finds its place among the elements not yet moved, and the ones after
// it move up as one block. A few inserts into a long dst (a delta naming
// a new replica: one slot into a counter of a thousand) find their places
// by binary search, O(m·log n) comparisons; many are walked linearly,
// O(n+m) (searchFaster). The moves are O(n) either way.
func insertSorted[E any](dst, ins []E, compare func(a, b E) int) []E {
	n := len(dst)
	dst = slices.Grow(dst, len(ins))[:n+len(ins)]
	search := searchFaster(len(ins), n)
	i, k := n, len(dst) // dst[:i] is not yet moved; dst[k:] is final
	for j := len(ins) - 1; j >= 0; j-- {
		lo := i
		if search {
			lo, _ = slices.BinarySearchFunc(dst[:i], ins[j], compare)
		} else {
			for lo > 0 && compare(dst[lo-1], ins[j]) > 0 {
				lo--
			}
		}
		k -= i - lo
		copy(dst[k:], dst[lo:i])
		k--
		dst[k] = ins[j]
		i = lo
	}
	return dst
}

// cmpInt64 is cmp.Compare for int64, without the NaN handling.
func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
