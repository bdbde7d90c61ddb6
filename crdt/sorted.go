package crdt

import "slices"

// The replicated states keep their entries in sorted slices (canonical
// order, so equal states encode to equal bytes); these helpers keep them so.

// insertSorted merges the sorted ins, whose keys dst does not hold, into
// the sorted dst, growing it in place from the back.
func insertSorted[E any](dst, ins []E, compare func(a, b E) int) []E {
	n := len(dst)
	dst = slices.Grow(dst, len(ins))[:n+len(ins)]
	i, j := n-1, len(ins)-1
	for k := len(dst) - 1; j >= 0 && k >= 0; k-- {
		if i >= 0 && compare(dst[i], ins[j]) > 0 {
			dst[k] = dst[i]
			i--
		} else {
			dst[k] = ins[j]
			j--
		}
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
