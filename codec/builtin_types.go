package codec

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// The built-in typed-value types. Each scalar T also gets []T (except
// uint8, whose slice is []byte) and map[string]T; []any and map[string]any
// hold typed values themselves, so their elements keep their exact types.
// The table is built once, in init (its entries for []any and
// map[string]any refer back to it), and never changed after.
var builtins *typeTable

func init() { builtins = newBuiltinTable() }

func newBuiltinTable() *typeTable {
	t := &typeTable{byTag: map[string]*typeEntry{}, byType: map[reflect.Type]*typeEntry{}}
	add := func(e *typeEntry) { t.byTag[e.tag] = e; t.byType[e.typ] = e }

	addScalar(add, "int", true, func(d []byte, v int) []byte { return appendInt(d, int64(v)) }, getSigned[int](strconv.IntSize))
	addScalar(add, "int8", true, func(d []byte, v int8) []byte { return appendInt(d, int64(v)) }, getSigned[int8](8))
	addScalar(add, "int16", true, func(d []byte, v int16) []byte { return appendInt(d, int64(v)) }, getSigned[int16](16))
	addScalar(add, "int32", true, func(d []byte, v int32) []byte { return appendInt(d, int64(v)) }, getSigned[int32](32))
	addScalar(add, "int64", true, appendInt, getSigned[int64](64))
	addScalar(add, "uint", true, func(d []byte, v uint) []byte { return appendUint(d, uint64(v)) }, getUnsigned[uint](strconv.IntSize))
	addScalar(add, "uint8", false, func(d []byte, v uint8) []byte { return appendUint(d, uint64(v)) }, getUnsigned[uint8](8))
	addScalar(add, "uint16", true, func(d []byte, v uint16) []byte { return appendUint(d, uint64(v)) }, getUnsigned[uint16](16))
	addScalar(add, "uint32", true, func(d []byte, v uint32) []byte { return appendUint(d, uint64(v)) }, getUnsigned[uint32](32))
	addScalar(add, "uint64", true, appendUint, getUnsigned[uint64](64))
	addScalar(add, "float32", true, appendFloat32, getFloat32)
	addScalar(add, "float64", true, appendFloat64, (*reader).float)
	addScalar(add, "bool", true, appendBool, getBool)
	addScalar(add, "string", true, appendText, (*reader).text)
	addScalar(add, "[]byte", true, appendNullableBytes, getBytes)
	addScalar(add, "time.Time", true, appendTime, getTime)
	addScalar(add, "time.Duration", true, func(d []byte, v time.Duration) []byte { return appendInt(d, int64(v)) }, getSigned[time.Duration](64))

	anyElem := scalar[any]{
		put: func(tc *typedCodec, d []byte, v any, depth int) ([]byte, error) { return tc.encode(d, v, depth) },
		get: func(tc *typedCodec, r *reader, depth int) (any, error) { return tc.decode(r, depth) },
	}
	add(sliceEntry("[]any", anyElem))
	add(mapEntry("map[string]any", anyElem))
	add(nilEntry)
	return t
}

// nilEntry is the entry of a nil interface value: tag "nil", value null.
var nilEntry = &typeEntry{
	tag: "nil",
	put: func(_ *typedCodec, dst []byte, _ any, _ int) ([]byte, error) { return appendNull(dst), nil },
	get: func(_ *typedCodec, r *reader, _ int) (any, error) {
		if !r.null() {
			return nil, fmt.Errorf("%w: at byte %d: tag \"nil\" needs value null", ErrTypeMismatch, r.off)
		}
		return nil, nil
	},
}

// scalar is how one element type is written and read inside a slice or
// map. depth is the CBOR nesting level the element sits at (1 is the
// outermost array or map of the message).
type scalar[T any] struct {
	put func(tc *typedCodec, dst []byte, v T, depth int) ([]byte, error)
	get func(tc *typedCodec, r *reader, depth int) (T, error)
}

// addScalar adds T, []T (if withSlice) and map[string]T.
func addScalar[T any](add func(*typeEntry), tag string, withSlice bool, put func([]byte, T) []byte, get func(*reader) (T, error)) {
	s := scalar[T]{
		put: func(_ *typedCodec, d []byte, v T, _ int) ([]byte, error) { return put(d, v), nil },
		get: func(_ *typedCodec, r *reader, _ int) (T, error) { return get(r) },
	}
	add(&typeEntry{
		tag: tag,
		typ: reflect.TypeFor[T](),
		put: func(tc *typedCodec, d []byte, v any, depth int) ([]byte, error) { return s.put(tc, d, v.(T), depth) },
		get: func(tc *typedCodec, r *reader, depth int) (any, error) { return s.get(tc, r, depth) },
	})
	if withSlice {
		add(sliceEntry("[]"+tag, s))
	}
	add(mapEntry("map[string]"+tag, s))
}

// sliceEntry writes []T as an array, and a nil slice as null so that nil
// and empty slices stay apart.
func sliceEntry[T any](tag string, elem scalar[T]) *typeEntry {
	return &typeEntry{
		tag: tag,
		typ: reflect.TypeFor[[]T](),
		put: func(tc *typedCodec, dst []byte, v any, depth int) ([]byte, error) {
			s := v.([]T)
			if s == nil {
				return appendNull(dst), nil
			}
			dst = appendHead(dst, majorArray, uint64(len(s)))
			for i, x := range s {
				var err error
				if dst, err = elem.put(tc, dst, x, depth+2); err != nil {
					return dst, fmt.Errorf("%s[%d]: %w", tag, i, err)
				}
			}
			return dst, nil
		},
		get: func(tc *typedCodec, r *reader, depth int) (any, error) {
			if r.null() {
				return []T(nil), nil
			}
			h, err := r.expect(majorArray)
			if err != nil {
				return nil, err
			}
			n, err := r.count(h, 1)
			if err != nil {
				return nil, err
			}
			s := make([]T, n) // n <= MaxArrayElements, checked by Wellformed
			for i := range s {
				if s[i], err = elem.get(tc, r, depth+2); err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", tag, i, err)
				}
			}
			return s, nil
		},
	}
}

// mapEntry writes map[string]T as a map with keys in Core Deterministic
// order, and a nil map as null.
func mapEntry[T any](tag string, elem scalar[T]) *typeEntry {
	return &typeEntry{
		tag: tag,
		typ: reflect.TypeFor[map[string]T](),
		put: func(tc *typedCodec, dst []byte, v any, depth int) ([]byte, error) {
			m := v.(map[string]T)
			if m == nil {
				return appendNull(dst), nil
			}
			dst = appendHead(dst, majorMap, uint64(len(m)))
			for _, k := range sortedKeys(m) {
				var err error
				dst = appendText(dst, k)
				if dst, err = elem.put(tc, dst, m[k], depth+2); err != nil {
					return dst, fmt.Errorf("%s[%q]: %w", tag, k, err)
				}
			}
			return dst, nil
		},
		get: func(tc *typedCodec, r *reader, depth int) (any, error) {
			if r.null() {
				return map[string]T(nil), nil
			}
			h, err := r.expect(majorMap)
			if err != nil {
				return nil, err
			}
			n, err := r.count(h, 2)
			if err != nil {
				return nil, err
			}
			// A small hint: a map of n empty keys is 2n bytes of input
			// but would reserve far more before the duplicates show.
			m := make(map[string]T, min(n, 64))
			for range n {
				at := r.off
				k, err := r.text()
				if err != nil {
					return nil, fmt.Errorf("%s key: %w", tag, err)
				}
				if _, dup := m[k]; dup {
					return nil, malformed(at, "%s: duplicate key %q", tag, k)
				}
				if m[k], err = elem.get(tc, r, depth+2); err != nil {
					return nil, fmt.Errorf("%s[%q]: %w", tag, k, err)
				}
			}
			return m, nil
		},
	}
}

// getSigned reads an integer that must fit in a signed type of the given
// bit size.
func getSigned[T ~int | ~int8 | ~int16 | ~int32 | ~int64](bits int) func(*reader) (T, error) {
	lo, hi := int64(-1)<<(bits-1), int64(1)<<(bits-1)-1
	if bits == 64 {
		lo, hi = math.MinInt64, math.MaxInt64
	}
	return func(r *reader) (T, error) {
		at := r.off
		v, err := r.int()
		if err != nil {
			return 0, err
		}
		if v < lo || v > hi {
			var zero T
			return 0, fmt.Errorf("%w: at byte %d: %d overflows %T", ErrTypeMismatch, at, v, zero)
		}
		return T(v), nil
	}
}

// getUnsigned reads an unsigned integer that must fit in the given bit
// size.
func getUnsigned[T ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64](bits int) func(*reader) (T, error) {
	hi := uint64(math.MaxUint64) >> (64 - bits)
	return func(r *reader) (T, error) {
		at := r.off
		v, err := r.uint()
		if err != nil {
			return 0, err
		}
		if v > hi {
			var zero T
			return 0, fmt.Errorf("%w: at byte %d: %d overflows %T", ErrTypeMismatch, at, v, zero)
		}
		return T(v), nil
	}
}

// getFloat32 reads a float that float32 represents exactly.
func getFloat32(r *reader) (float32, error) {
	at := r.off
	f, err := r.float()
	if err != nil {
		return 0, err
	}
	if f32 := float32(f); float64(f32) == f || f != f {
		return f32, nil
	}
	return 0, fmt.Errorf("%w: at byte %d: %v is not exactly a float32", ErrTypeMismatch, at, f)
}

func getBool(r *reader) (bool, error) {
	h, err := r.head()
	if err != nil {
		return false, err
	}
	if h.major == majorSimple && h.ai == simpleTrue {
		return true, nil
	}
	if h.major == majorSimple && h.ai == simpleFalse {
		return false, nil
	}
	return false, fmt.Errorf("%w: at byte %d: expected bool, got %s", ErrTypeMismatch, h.at, majorName(h.major))
}

// appendNullableBytes writes a byte string, or null for a nil slice.
func appendNullableBytes(dst []byte, b []byte) []byte {
	if b == nil {
		return appendNull(dst)
	}
	return appendBytes(dst, b)
}

// getBytes reads a byte string into a fresh slice (null is a nil slice).
func getBytes(r *reader) ([]byte, error) {
	if r.null() {
		return nil, nil
	}
	h, err := r.expect(majorBytes)
	if err != nil {
		return nil, err
	}
	b, err := r.payload(h)
	if err != nil {
		return nil, err
	}
	return append(make([]byte, 0, len(b)), b...), nil
}

// appendTime writes a time as [unix seconds, nanoseconds]: exact to the
// nanosecond over time.Time's whole range. The location is not written.
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, majorArray<<5|2)
	dst = appendInt(dst, t.Unix())
	return appendUint(dst, uint64(t.Nanosecond()))
}

// getTime reads [seconds, nanoseconds] as a time in UTC.
func getTime(r *reader) (time.Time, error) {
	h, err := r.expect(majorArray)
	if err != nil {
		return time.Time{}, err
	}
	if h.arg != 2 {
		return time.Time{}, fmt.Errorf("%w: at byte %d: time needs [seconds, nanoseconds], got %d elements", ErrTypeMismatch, h.at, h.arg)
	}
	sec, err := r.int()
	if err != nil {
		return time.Time{}, err
	}
	at := r.off
	nsec, err := r.uint()
	if err != nil {
		return time.Time{}, err
	}
	if nsec >= uint64(time.Second) {
		return time.Time{}, fmt.Errorf("%w: at byte %d: nanoseconds %d out of range", ErrTypeMismatch, at, nsec)
	}
	return time.Unix(sec, int64(nsec)).UTC(), nil
}
