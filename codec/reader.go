package codec

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// CBOR major types (RFC 8949 section 3.1).
const (
	majorUint   byte = 0
	majorNegint byte = 1
	majorBytes  byte = 2
	majorText   byte = 3
	majorArray  byte = 4
	majorMap    byte = 5
	majorTag    byte = 6
	majorSimple byte = 7
)

// Simple values and float heads of major type 7 (additional information).
const (
	simpleFalse byte = 20
	simpleTrue  byte = 21
	simpleNull  byte = 22
	aiFloat16   byte = 25
	aiFloat32   byte = 26
	aiFloat64   byte = 27
)

// majorName names a CBOR major type for error messages.
func majorName(m byte) string {
	switch m {
	case majorUint:
		return "unsigned integer"
	case majorNegint:
		return "negative integer"
	case majorBytes:
		return "byte string"
	case majorText:
		return "text string"
	case majorArray:
		return "array"
	case majorMap:
		return "map"
	case majorTag:
		return "tag"
	}
	return "simple value or float"
}

// reader walks CBOR data item by item. It is used after the whole message
// passed cbor's Wellformed check (which enforces the nesting, array and map
// limits), but it still checks every bound itself: it never panics and never
// trusts a length it has not compared with the bytes left.
type reader struct {
	data []byte
	off  int
}

// head is the initial byte and argument of one data item.
type head struct {
	major byte
	ai    byte   // additional information (low 5 bits of the initial byte)
	arg   uint64 // length, count, integer value, or float bits
	at    int    // offset of the initial byte, for error messages
}

// malformed returns an ErrMalformed error located at offset at.
func malformed(at int, format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMalformed, at, fmt.Sprintf(format, args...))
}

// head reads the next item's head. Indefinite lengths and reserved
// additional information are malformed in this format.
func (r *reader) head() (head, error) {
	h := head{at: r.off}
	if r.off >= len(r.data) {
		return h, malformed(r.off, "truncated input")
	}
	b := r.data[r.off]
	r.off++
	h.major, h.ai = b>>5, b&0x1f
	var n int
	switch {
	case h.ai < 24:
		h.arg = uint64(h.ai)
		return h, nil
	case h.ai == 24:
		n = 1
	case h.ai == 25:
		n = 2
	case h.ai == 26:
		n = 4
	case h.ai == 27:
		n = 8
	case h.ai == 31:
		return h, malformed(h.at, "indefinite-length %s is not allowed", majorName(h.major))
	default:
		return h, malformed(h.at, "reserved additional information %d", h.ai)
	}
	if len(r.data)-r.off < n {
		return h, malformed(h.at, "truncated input")
	}
	for _, c := range r.data[r.off : r.off+n] {
		h.arg = h.arg<<8 | uint64(c)
	}
	r.off += n
	return h, nil
}

// expect reads a head and checks its major type.
func (r *reader) expect(major byte) (head, error) {
	h, err := r.head()
	if err != nil {
		return h, err
	}
	if h.major != major {
		return h, fmt.Errorf("%w: at byte %d: expected %s, got %s", ErrTypeMismatch, h.at, majorName(major), majorName(h.major))
	}
	return h, nil
}

// payload returns the n content bytes of a byte or text string, aliased.
func (r *reader) payload(h head) ([]byte, error) {
	if h.arg > uint64(len(r.data)-r.off) {
		return nil, malformed(h.at, "%s of %d bytes is truncated", majorName(h.major), h.arg)
	}
	n := int(h.arg)
	b := r.data[r.off : r.off+n : r.off+n]
	r.off += n
	return b, nil
}

// count converts an array or map head's count to int, refusing counts that
// cannot fit in the bytes left (every item takes at least one byte), so a
// caller may size an allocation by it.
func (r *reader) count(h head, perItem int) (int, error) {
	if h.arg > uint64(len(r.data)-r.off)/uint64(perItem) {
		return 0, malformed(h.at, "%s of %d entries is longer than the input", majorName(h.major), h.arg)
	}
	return int(h.arg), nil
}

// skip moves past one complete data item, iteratively (no recursion, so
// no stack growth on deep input).
func (r *reader) skip() error {
	pending := uint64(1)
	for pending > 0 {
		pending--
		h, err := r.head()
		if err != nil {
			return err
		}
		switch h.major {
		case majorBytes, majorText:
			if _, err := r.payload(h); err != nil {
				return err
			}
		case majorArray, majorMap:
			per := 1
			if h.major == majorMap {
				per = 2
			}
			n, err := r.count(h, per)
			if err != nil {
				return err
			}
			pending += uint64(n) * uint64(per)
		case majorTag:
			return malformed(h.at, "CBOR tags are not allowed")
		}
	}
	return nil
}

// rawItem returns the bytes of the next complete data item, aliased.
func (r *reader) rawItem() ([]byte, error) {
	start := r.off
	if err := r.skip(); err != nil {
		return nil, err
	}
	return r.data[start:r.off:r.off], nil
}

// text reads a text string, checking it is valid UTF-8.
func (r *reader) text() (string, error) {
	b, err := r.textBytes()
	return string(b), err
}

// textBytes is text without the copy: the bytes alias the input.
func (r *reader) textBytes() ([]byte, error) {
	h, err := r.expect(majorText)
	if err != nil {
		return nil, err
	}
	b, err := r.payload(h)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, malformed(h.at, "text string is not valid UTF-8")
	}
	return b, nil
}

// uint reads an unsigned integer.
func (r *reader) uint() (uint64, error) {
	h, err := r.expect(majorUint)
	return h.arg, err
}

// int reads an integer of either sign that fits in int64.
func (r *reader) int() (int64, error) {
	h, err := r.head()
	if err != nil {
		return 0, err
	}
	switch h.major {
	case majorUint:
		if h.arg > math.MaxInt64 {
			return 0, fmt.Errorf("%w: at byte %d: integer %d overflows int64", ErrTypeMismatch, h.at, h.arg)
		}
		return int64(h.arg), nil
	case majorNegint:
		if h.arg > math.MaxInt64 {
			return 0, fmt.Errorf("%w: at byte %d: integer -1-%d overflows int64", ErrTypeMismatch, h.at, h.arg)
		}
		return -1 - int64(h.arg), nil
	}
	return 0, fmt.Errorf("%w: at byte %d: expected integer, got %s", ErrTypeMismatch, h.at, majorName(h.major))
}

// float reads a half, single or double precision float as float64.
func (r *reader) float() (float64, error) {
	h, err := r.head()
	if err != nil {
		return 0, err
	}
	if h.major == majorSimple {
		switch h.ai {
		case aiFloat16:
			return halfToFloat64(uint16(h.arg)), nil
		case aiFloat32:
			return float64(math.Float32frombits(uint32(h.arg))), nil
		case aiFloat64:
			return math.Float64frombits(h.arg), nil
		}
	}
	return 0, fmt.Errorf("%w: at byte %d: expected float, got %s", ErrTypeMismatch, h.at, majorName(h.major))
}

// halfToFloat64 converts IEEE 754 binary16 bits to float64 (RFC 8949
// appendix D).
func halfToFloat64(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	var v float64
	switch exp {
	case 0:
		v = math.Ldexp(mant, -24)
	case 31:
		if mant == 0 {
			v = math.Inf(1)
		} else {
			v = math.NaN()
		}
	default:
		v = math.Ldexp(mant+1024, exp-25)
	}
	if h&0x8000 != 0 {
		return -v
	}
	return v
}

// null reports whether the next item is CBOR null, consuming it if so.
func (r *reader) null() bool {
	if r.off < len(r.data) && r.data[r.off] == majorSimple<<5|simpleNull {
		r.off++
		return true
	}
	return false
}
