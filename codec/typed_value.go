package codec

import (
	"fmt"
	"reflect"
)

// typedCodec carries what one EncodeAny or DecodeAny call needs.
type typedCodec struct {
	c   *Codec
	reg *Registry
}

// EncodeAny encodes v as a self-describing typed value: a CBOR array
// [tag, value], where tag names v's Go type (see the package doc for the
// built-in tags) and value is its encoding. DecodeAny rebuilds a value of
// exactly that Go type. Elements of []any and map[string]any are typed
// values themselves, recursively.
//
// The error wraps ErrUnregisteredType, naming the Go type, when neither
// the built-in set nor r knows v's type (or an element's); ErrTooLarge
// when the result exceeds MaxMessageBytes or nesting exceeds
// MaxNestedLevels (a []any that contains itself does); ErrTypeMismatch
// when a registered type's value does not encode.
func (c *Codec) EncodeAny(r *Registry, v any) ([]byte, error) {
	tc := typedCodec{c: c, reg: r}
	out, err := tc.encode(make([]byte, 0, 32), v, 1)
	if err != nil {
		return nil, fmt.Errorf("shoal/codec: encode %T: %w", v, err)
	}
	if err := c.checkOutput(out); err != nil {
		return nil, fmt.Errorf("shoal/codec: encode %T: %w", v, err)
	}
	return out, nil
}

// DecodeAny decodes a typed value made by EncodeAny and returns it with its
// exact Go type: an int64 comes back as int64, an int as int, a []int64 as
// []int64, a nil slice as a nil slice. A time.Time comes back equal to the
// original to the nanosecond, in UTC, without a monotonic reading. The
// result shares no memory with data.
//
// Decoding is strict and bounded as for Unmarshal. The error wraps
// ErrUnregisteredType for a tag neither the built-in set nor r knows,
// ErrTypeMismatch for a value that does not fit its tag's type (an
// integer out of range, a float that is not exactly a float32), and
// ErrMalformed or ErrTooLarge as for Unmarshal.
func (c *Codec) DecodeAny(r *Registry, data []byte) (any, error) {
	if err := c.wellformed("decode typed value", data); err != nil {
		return nil, err
	}
	tc := typedCodec{c: c, reg: r}
	rd := reader{data: data}
	v, err := tc.decode(&rd, 1)
	if err != nil {
		return nil, fmt.Errorf("shoal/codec: decode typed value: %w", err)
	}
	if rd.off != len(data) {
		return nil, fmt.Errorf("shoal/codec: decode typed value: %w", malformed(rd.off, "%d bytes of trailing data", len(data)-rd.off))
	}
	return v, nil
}

// encode appends v as [tag, value]. depth is the CBOR nesting level of the
// pair's array; it stops self-containing values early (checkOutput does
// the exact check on the result).
func (tc *typedCodec) encode(dst []byte, v any, depth int) ([]byte, error) {
	typ := reflect.TypeOf(v)
	e, ok := tc.reg.byType(typ)
	if !ok {
		return dst, fmt.Errorf("%w: Go type %v (register it with Registry.Register)", ErrUnregisteredType, typ)
	}
	if depth > tc.c.limits.MaxNestedLevels {
		return dst, fmt.Errorf("%w: nesting deeper than %d levels", ErrTooLarge, tc.c.limits.MaxNestedLevels)
	}
	dst = append(dst, majorArray<<5|2)
	dst = appendText(dst, e.tag)
	return e.put(tc, dst, v, depth)
}

// decode reads one [tag, value] pair.
func (tc *typedCodec) decode(r *reader, depth int) (any, error) {
	if depth > tc.c.limits.MaxNestedLevels {
		return nil, fmt.Errorf("%w: nesting deeper than %d levels", ErrTooLarge, tc.c.limits.MaxNestedLevels)
	}
	h, err := r.head()
	if err != nil {
		return nil, err
	}
	if h.major != majorArray || h.arg != 2 {
		return nil, malformed(h.at, "typed value must be a [tag, value] array, got %s of %d", majorName(h.major), h.arg)
	}
	tag, err := r.textBytes()
	if err != nil {
		return nil, fmt.Errorf("type tag: %w", err)
	}
	e, ok := tc.reg.byTag(tag)
	if !ok {
		return nil, fmt.Errorf("%w: type tag %q", ErrUnregisteredType, tag)
	}
	v, err := e.get(tc, r, depth)
	if err != nil {
		return nil, fmt.Errorf("%s value: %w", e.tag, err)
	}
	return v, nil
}
