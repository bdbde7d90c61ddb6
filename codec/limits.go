package codec

import "fmt"

// Limits bound what a Codec decodes (and encodes), so a peer cannot make a
// node allocate without bound or recurse without end. A Limits value is
// checked by New; no field is replaced by a default.
type Limits struct {
	// MaxMessageBytes is the largest message, in bytes, that is decoded or
	// produced. It also bounds every string and byte string inside.
	// At least 64.
	MaxMessageBytes int

	// MaxNestedLevels is the deepest nesting of CBOR arrays and maps
	// (a typed value's [tag, value] wrapper counts as one level). In
	// [4, 65535].
	MaxNestedLevels int

	// MaxArrayElements is the longest CBOR array, in elements, including
	// the envelope array of a batch. In [16, 2147483647].
	MaxArrayElements int

	// MaxMapPairs is the largest CBOR map, in key-value pairs. In
	// [16, 2147483647].
	MaxMapPairs int
}

// DefaultLimits returns the limits of Default: 32 MiB messages, 32 levels
// of nesting, 1<<20 array elements and 1<<20 map pairs. They admit the
// largest anti-entropy state exchange shoal sends while keeping a hostile
// message's cost bounded by its size.
func DefaultLimits() Limits {
	return Limits{
		MaxMessageBytes:  32 << 20,
		MaxNestedLevels:  32,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 20,
	}
}

// Validate reports the first field out of range, as an error wrapping
// ErrInvalidLimits.
func (l Limits) Validate() error {
	const maxInt32 = 1<<31 - 1
	switch {
	case l.MaxMessageBytes < 64:
		return fmt.Errorf("%w: MaxMessageBytes %d is below 64", ErrInvalidLimits, l.MaxMessageBytes)
	case l.MaxNestedLevels < 4 || l.MaxNestedLevels > 65535:
		return fmt.Errorf("%w: MaxNestedLevels %d is outside [4, 65535]", ErrInvalidLimits, l.MaxNestedLevels)
	case l.MaxArrayElements < 16 || l.MaxArrayElements > maxInt32:
		return fmt.Errorf("%w: MaxArrayElements %d is outside [16, %d]", ErrInvalidLimits, l.MaxArrayElements, maxInt32)
	case l.MaxMapPairs < 16 || l.MaxMapPairs > maxInt32:
		return fmt.Errorf("%w: MaxMapPairs %d is outside [16, %d]", ErrInvalidLimits, l.MaxMapPairs, maxInt32)
	}
	return nil
}
