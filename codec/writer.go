package codec

import (
	"math"
	"sort"
)

// appendHead appends the shortest head for major type m with argument n,
// as Core Deterministic Encoding requires.
func appendHead(dst []byte, m byte, n uint64) []byte {
	m <<= 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= math.MaxUint8:
		return append(dst, m|24, byte(n))
	case n <= math.MaxUint16:
		return append(dst, m|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(dst, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// headSize is the length of appendHead's output for argument n.
func headSize(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= math.MaxUint8:
		return 2
	case n <= math.MaxUint16:
		return 3
	case n <= math.MaxUint32:
		return 5
	}
	return 9
}

func appendUint(dst []byte, v uint64) []byte { return appendHead(dst, majorUint, v) }

func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		return appendHead(dst, majorNegint, uint64(-1-v))
	}
	return appendHead(dst, majorUint, uint64(v))
}

func appendText(dst []byte, s string) []byte {
	dst = appendHead(dst, majorText, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	dst = appendHead(dst, majorBytes, uint64(len(b)))
	return append(dst, b...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, majorSimple<<5|simpleTrue)
	}
	return append(dst, majorSimple<<5|simpleFalse)
}

func appendNull(dst []byte) []byte { return append(dst, majorSimple<<5|simpleNull) }

// appendFloat32 writes a float32 as a CBOR single-precision float. Typed
// values keep the Go width of floats (see the package doc), so a NaN's
// payload and the float32-ness survive the round trip.
func appendFloat32(dst []byte, f float32) []byte {
	b := math.Float32bits(f)
	return append(dst, majorSimple<<5|aiFloat32, byte(b>>24), byte(b>>16), byte(b>>8), byte(b))
}

func appendFloat64(dst []byte, f float64) []byte {
	b := math.Float64bits(f)
	return append(dst, majorSimple<<5|aiFloat64, byte(b>>56), byte(b>>48), byte(b>>40), byte(b>>32),
		byte(b>>24), byte(b>>16), byte(b>>8), byte(b))
}

// sortedKeys returns m's keys in Core Deterministic order: the bytewise
// order of their encodings, which for text strings is shorter first, then
// bytewise.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) < len(keys[j])
		}
		return keys[i] < keys[j]
	})
	return keys
}
