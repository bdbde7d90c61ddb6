package codec

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Codec encodes and decodes shoal's wire format under fixed Limits. Its
// configuration is immutable (it keeps only a small bounded cache of
// replica names it decoded) and it is safe for concurrent use; build one
// with New (or use Default) and share it.
type Codec struct {
	limits Limits
	enc    cbor.UserBufferEncMode
	dec    cbor.DecMode
	times  timeTypes  // which types need checkTimes after decoding
	names  *nameCache // replica names the counter fast path decoded lately
	// err is why enc and dec could not be built; every encode and decode
	// returns it. New never returns such a Codec; Default could only if
	// fxamacker/cbor rejected options its tests show it accepts.
	err error
}

// New returns a Codec that enforces l. It returns an error wrapping
// ErrInvalidLimits when a field of l is out of range.
func New(l Limits) (*Codec, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	c := newCodec(l)
	if c.err != nil {
		return nil, c.err
	}
	return c, nil
}

// newCodec builds a Codec for l without checking l, for the known-good
// DefaultLimits. It cannot fail: when fxamacker/cbor rejects the options,
// the Codec holds the error and returns it from every encode and decode.
func newCodec(l Limits) *Codec {
	encOpts := cbor.CoreDetEncOptions()
	// Tags are forbidden on the wire, so time.Time is written as an
	// RFC 3339 text string in UTC with nanoseconds, and big.Int as a plain
	// integer (an error if it does not fit).
	encOpts.TagsMd = cbor.TagsForbidden
	encOpts.Time = cbor.TimeRFC3339NanoUTC
	encOpts.BigIntConvert = cbor.BigIntConvertShortest
	enc, err := encOpts.UserBufferEncMode()
	if err != nil {
		return &Codec{limits: l, err: fmt.Errorf("shoal/codec: building encoder: %w", err)}
	}
	dec, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  l.MaxNestedLevels,
		MaxArrayElements: l.MaxArrayElements,
		MaxMapPairs:      l.MaxMapPairs,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		// An integer decoded into an interface is always an int64 (never
		// uint64 for one sign and int64 for the other); one above
		// MaxInt64 is an error.
		IntDec:         cbor.IntDecConvertSignedOrFail,
		DefaultMapType: reflect.TypeFor[map[string]any](),
		UTF8:           cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		return &Codec{limits: l, err: fmt.Errorf("shoal/codec: building decoder: %w", err)}
	}
	return &Codec{limits: l, enc: enc, dec: dec, names: new(nameCache)}
}

// defaultCodec is built once; Codec is immutable, so sharing it is safe.
var defaultCodec = sync.OnceValue(func() *Codec { return newCodec(DefaultLimits()) })

// Default returns the Codec with DefaultLimits. Every call returns the same
// Codec.
func Default() *Codec { return defaultCodec() }

// Limits returns the limits c enforces.
func (c *Codec) Limits() Limits { return c.limits }

// Marshal encodes v in CBOR Core Deterministic Encoding: the same value
// always gives the same bytes (map keys sorted, shortest integers, lengths
// and floats). Struct fields follow fxamacker/cbor's tags (use keyasint for
// compact messages). time.Time is written as an RFC 3339 string in UTC
// with nanoseconds; CBOR tags are never written. A result larger than
// MaxMessageBytes is an error wrapping ErrTooLarge; a type CBOR cannot
// represent one wrapping ErrTypeMismatch.
func (c *Codec) Marshal(v any) ([]byte, error) {
	return c.AppendMarshal(nil, v)
}

// AppendMarshal is Marshal appending to dst. On error it returns dst
// unchanged in length (its spare capacity may have been written).
//
// The result is checked against all of c's Limits (size, nesting, array
// and map lengths): what c encodes, a peer with the same limits decodes.
func (c *Codec) AppendMarshal(dst []byte, v any) ([]byte, error) {
	n := len(dst)
	if c.err == nil {
		if out, ok := c.appendCounter(dst, v); ok {
			// Written by hand in the shape Marshal writes, within the
			// limits: only the size is left to check.
			if len(out)-n > c.limits.MaxMessageBytes {
				return dst[:n], fmt.Errorf("shoal/codec: marshal %T: %w: %d bytes, limit %d", v, ErrTooLarge, len(out)-n, c.limits.MaxMessageBytes)
			}
			return out, nil
		}
	}
	out, err := c.appendMarshalNoLimit(dst, v)
	if err != nil {
		return dst[:n], err
	}
	if err := c.checkOutput(out[n:]); err != nil {
		return dst[:n], fmt.Errorf("shoal/codec: marshal %T: %w", v, err)
	}
	return out, nil
}

// checkOutput checks an encoding against c's limits, so that an encoder
// never produces what a peer with the same limits would reject.
func (c *Codec) checkOutput(out []byte) error {
	if c.err != nil {
		return c.err
	}
	if len(out) > c.limits.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(out), c.limits.MaxMessageBytes)
	}
	if err := c.dec.Wellformed(out); err != nil {
		return classify("result", err)
	}
	return nil
}

// appendMarshalNoLimit appends v's encoding without the size check, for
// callers that check the size of the whole message.
func (c *Codec) appendMarshalNoLimit(dst []byte, v any) ([]byte, error) {
	if c.err != nil {
		return dst, fmt.Errorf("shoal/codec: marshal %T: %w", v, c.err)
	}
	buf := bytes.NewBuffer(dst)
	if err := c.enc.MarshalToBuffer(v, buf); err != nil {
		return dst, classify(fmt.Sprintf("shoal/codec: marshal %T", v), err)
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes one CBOR data item from data into the value v points
// to. Decoding is strict and bounded: data must be exactly one well-formed
// item within c's Limits, with no duplicate map keys, indefinite lengths,
// tags or invalid UTF-8. Map keys that match no struct field are ignored,
// so a newer peer can add fields. An integer decoded into an interface
// value becomes int64, a map map[string]any. A time.Time field accepts
// an RFC 3339 string (as Marshal writes) or epoch seconds, and must fall
// in the years 0 to 9999 UTC, which is what Marshal can send on.
//
// The error wraps ErrTooLarge, ErrMalformed or ErrTypeMismatch, and the
// fxamacker/cbor error that caused it (whose text names the struct field).
// After an error, *v may be partly filled.
func (c *Codec) Unmarshal(data []byte, v any) error {
	if c.err != nil {
		return fmt.Errorf("shoal/codec: unmarshal into %T: %w", v, c.err)
	}
	if len(data) > c.limits.MaxMessageBytes {
		return fmt.Errorf("shoal/codec: unmarshal into %T: %w: %d bytes, limit %d", v, ErrTooLarge, len(data), c.limits.MaxMessageBytes)
	}
	if c.unmarshalCounter(data, v) {
		return nil
	}
	if err := c.dec.Unmarshal(data, v); err != nil {
		return classify(fmt.Sprintf("shoal/codec: unmarshal into %T", v), err)
	}
	if rv := reflect.ValueOf(v); c.times.has(rv.Type()) {
		if err := checkTimes(rv); err != nil {
			return fmt.Errorf("shoal/codec: unmarshal into %T: %w", v, err)
		}
	}
	return nil
}

// wellformed checks data's size and structure against c's limits before
// a hand-written decoder walks it.
func (c *Codec) wellformed(what string, data []byte) error {
	if c.err != nil {
		return fmt.Errorf("shoal/codec: %s: %w", what, c.err)
	}
	if len(data) > c.limits.MaxMessageBytes {
		return fmt.Errorf("shoal/codec: %s: %w: %d bytes, limit %d", what, ErrTooLarge, len(data), c.limits.MaxMessageBytes)
	}
	if len(data) == 0 {
		return fmt.Errorf("shoal/codec: %s: %w: empty input", what, ErrMalformed)
	}
	if err := c.dec.Wellformed(data); err != nil {
		return classify("shoal/codec: "+what, err)
	}
	return nil
}
