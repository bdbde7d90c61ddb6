package codec

import (
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// ErrVersion is returned when a message carries a protocol version this
// build does not read. The error text lists the versions it does read.
var ErrVersion = errors.New("shoal/codec: unsupported protocol version")

// ErrTooLarge is returned when a message, or a value being encoded, is
// larger than the Codec's Limits allow: too many bytes, nested too deeply,
// or an array or map with too many entries.
var ErrTooLarge = errors.New("shoal/codec: message exceeds limits")

// ErrMalformed is returned when data is not a well-formed message of this
// format: truncated or invalid CBOR, trailing bytes, duplicate map keys,
// indefinite lengths, CBOR tags, invalid UTF-8, or an envelope that breaks
// the envelope rules (missing version or kind, a field of the wrong CBOR
// type). It is also returned when an Envelope to be encoded breaks them.
var ErrMalformed = errors.New("shoal/codec: malformed message")

// ErrUnregisteredType is returned when EncodeAny meets a Go type, or
// DecodeAny a type tag, that neither the built-in set nor the Registry
// knows.
var ErrUnregisteredType = errors.New("shoal/codec: unregistered type")

// ErrTypeMismatch is returned when well-formed data does not fit the Go
// type it is decoded into (a text string where an integer belongs, an
// integer out of the target's range), or when a Go value cannot be
// represented in CBOR at all (channels, functions, complex numbers).
var ErrTypeMismatch = errors.New("shoal/codec: type mismatch")

// ErrInvalidLimits is returned by New when a Limits field is out of range.
var ErrInvalidLimits = errors.New("shoal/codec: invalid limits")

// ErrRegistration is returned by Registry.Register when a tag or Go type is
// already registered (or built in), the tag is empty or too long, or the
// type cannot be encoded.
var ErrRegistration = errors.New("shoal/codec: invalid registration")

// classify wraps a fxamacker/cbor error in the sentinel that describes it,
// keeping the original error in the chain (errors.As still finds
// *cbor.UnmarshalTypeError and friends). what names the thing being
// decoded, for the error text.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	var (
		nested   *cbor.MaxNestedLevelError
		arrayLen *cbor.MaxArrayElementsError
		mapLen   *cbor.MaxMapPairsError
		typeErr  *cbor.UnmarshalTypeError
		target   *cbor.InvalidUnmarshalError
		keyType  *cbor.InvalidMapKeyTypeError
		unsupTyp *cbor.UnsupportedTypeError
		unsupVal *cbor.UnsupportedValueError
	)
	var sentinel error
	switch {
	case errors.As(err, &nested), errors.As(err, &arrayLen), errors.As(err, &mapLen):
		sentinel = ErrTooLarge
	case errors.As(err, &typeErr), errors.As(err, &target), errors.As(err, &keyType),
		errors.As(err, &unsupTyp), errors.As(err, &unsupVal):
		sentinel = ErrTypeMismatch
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%s: %w: truncated input: %w", what, ErrMalformed, err)
	default:
		// Syntax and semantic errors, extraneous data, duplicate keys,
		// indefinite lengths, tags, invalid UTF-8, bad simple values.
		sentinel = ErrMalformed
	}
	return fmt.Errorf("%s: %w: %w", what, sentinel, err)
}
