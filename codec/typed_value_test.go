package codec

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"
)

type point struct {
	X int64  `cbor:"1,keyasint"`
	Y int64  `cbor:"2,keyasint"`
	L string `cbor:"3,keyasint,omitempty"`
}

func TestEncodeAnyRoundTrip(t *testing.T) {
	reg := NewRegistry()
	noErr(t, reg.Register("test.point", point{}))
	noErr(t, reg.Register("test.*point", &point{}))
	when := time.Date(2026, 11, 25, 21, 30, 0, 123456789, time.FixedZone("CET", 3600))
	cases := []any{
		nil,
		int(-7), int(math.MaxInt), int(math.MinInt),
		int8(-128), int8(127), int16(-32768), int32(math.MaxInt32), int64(math.MinInt64), int64(math.MaxInt64), int64(0),
		uint(math.MaxUint), uint8(255), uint16(65535), uint32(math.MaxUint32), uint64(math.MaxUint64), uint64(0),
		float32(1.5), float32(math.MaxFloat32), float32(math.SmallestNonzeroFloat32), float32(math.Inf(-1)),
		float64(0.1), math.MaxFloat64, math.Inf(1), math.Copysign(0, -1),
		true, false,
		"", "hello", "zähler ✓",
		[]byte{}, []byte(nil), []byte{0, 1, 2, 255},
		when, time.Time{}, time.Unix(0, 1).UTC(), time.Date(-500, 1, 1, 0, 0, 0, 999999999, time.UTC),
		time.Duration(0), 90 * time.Second, time.Duration(math.MinInt64),
		[]int{1, -2, 3}, []int(nil), []int{}, []int8{-1}, []int16{300}, []int32{-70000}, []int64{math.MinInt64, 0, math.MaxInt64},
		[]uint{1}, []uint16{2}, []uint32{3}, []uint64{math.MaxUint64},
		[]float32{0.5}, []float64{0.25, -1e300}, []bool{true, false}, []string{"a", ""}, [][]byte{{1}, nil, {}},
		[]time.Time{when.UTC()}, []time.Duration{time.Millisecond},
		map[string]int{"a": 1, "bb": -2}, map[string]int64(nil), map[string]int64{}, map[string]uint8{"x": 200},
		map[string]int8{"a": -3}, map[string]int16{"a": -3}, map[string]int32{"a": -3}, map[string]uint{"u": 9},
		map[string]uint16{"u": 9}, map[string]uint32{"u": 9}, map[string]uint64{"u": math.MaxUint64},
		map[string]float32{"f": 2.5}, map[string]float64{"f": 2.5}, map[string]bool{"t": true},
		map[string]string{"k": "v"}, map[string][]byte{"b": {9}}, map[string]time.Time{"t": when.UTC()},
		map[string]time.Duration{"d": time.Hour},
		[]any{int64(1), uint64(2), "three", nil, []any{int8(4)}, map[string]any{"five": float32(5)}, []int(nil), point{X: 1}},
		[]any(nil), []any{},
		map[string]any{"n": int64(-1), "u": uint64(1), "i": 1, "nested": map[string]any{"deeper": []any{true}}, "p": &point{Y: 2}},
		map[string]any(nil),
		point{X: -1, Y: 2, L: "label"}, &point{X: 3}, (*point)(nil),
	}
	c := Default()
	for i, want := range cases {
		t.Run(fmt.Sprintf("%d_%T", i, want), func(t *testing.T) {
			data, err := c.EncodeAny(reg, want)
			noErr(t, err)
			got, err := c.DecodeAny(reg, data)
			noErr(t, err)
			if gt, wt := fmt.Sprintf("%T", got), fmt.Sprintf("%T", want); gt != wt {
				t.Fatalf("type: got %s, want %s", gt, wt)
			}
			if wt, ok := want.(time.Time); ok {
				gt := got.(time.Time)
				if !gt.Equal(wt) || gt.Location() != time.UTC || gt != wt.UTC() {
					t.Errorf("time: got %v, want %v in UTC", gt, wt)
				}
			} else {
				equal(t, got, want, "value")
			}
			again, err := c.EncodeAny(reg, got)
			noErr(t, err)
			equal(t, again, data, "re-encoding the decoded value")
		})
	}
}

func TestEncodeAnyNaN(t *testing.T) {
	c, reg := Default(), NewRegistry()
	for _, want := range []any{math.NaN(), float32(math.NaN())} {
		data, err := c.EncodeAny(reg, want)
		noErr(t, err)
		got, err := c.DecodeAny(reg, data)
		noErr(t, err)
		equal(t, fmt.Sprintf("%T %v", got, got), fmt.Sprintf("%T NaN", want), "NaN round trip")
	}
}

func TestEncodeAnyWireFormat(t *testing.T) {
	c, reg := Default(), NewRegistry()
	cases := []struct {
		v    any
		want []byte
	}{
		{int64(-1), []byte{0x82, 0x65, 'i', 'n', 't', '6', '4', 0x20}},
		{uint8(24), []byte{0x82, 0x65, 'u', 'i', 'n', 't', '8', 0x18, 24}},
		{nil, []byte{0x82, 0x63, 'n', 'i', 'l', 0xf6}},
		{float32(1), []byte{0x82, 0x67, 'f', 'l', 'o', 'a', 't', '3', '2', 0xfa, 0x3f, 0x80, 0, 0}},
		{time.Unix(1, 2), []byte{0x82, 0x69, 't', 'i', 'm', 'e', '.', 'T', 'i', 'm', 'e', 0x82, 0x01, 0x02}},
		// Map keys in Core Deterministic order: shorter first, then bytewise.
		{map[string]bool{"bb": true, "c": false, "a": true}, append(append([]byte{0x82, 0x6f}, "map[string]bool"...),
			0xa3, 0x61, 'a', 0xf5, 0x61, 'c', 0xf4, 0x62, 'b', 'b', 0xf5)},
		{[]any{int64(1)}, append(append([]byte{0x82, 0x65}, "[]any"...), 0x81, 0x82, 0x65, 'i', 'n', 't', '6', '4', 0x01)},
	}
	for _, tc := range cases {
		got, err := c.EncodeAny(reg, tc.v)
		noErr(t, err)
		equal(t, got, tc.want, fmt.Sprintf("encoding of %T %v", tc.v, tc.v))
	}
}

func TestEncodeAnyAtNestingLimit(t *testing.T) {
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	// Levels: pair, map, pair, slice: exactly 4.
	v := map[string]any{"a": []int64{1}}
	data, err := small.EncodeAny(nil, v)
	noErr(t, err)
	got, err := small.DecodeAny(nil, data)
	noErr(t, err)
	equal(t, got, any(v), "value at the nesting limit")
}

func TestEncodeAnyDeterministic(t *testing.T) {
	c, reg := Default(), NewRegistry()
	m := map[string]any{}
	for i := range 200 {
		m[strconv.Itoa(i*7919)] = []any{int64(i), map[string]int{"x" + strconv.Itoa(i): i}}
	}
	first, err := c.EncodeAny(reg, m)
	noErr(t, err)
	for range 20 {
		next, err := c.EncodeAny(reg, m)
		noErr(t, err)
		if !bytes.Equal(first, next) {
			t.Fatal("same map encoded to different bytes")
		}
	}
}

func TestEncodeAnyRejects(t *testing.T) {
	type unregistered struct{ A int }
	selfRef := []any{nil}
	selfRef[0] = selfRef
	selfMap := map[string]any{}
	selfMap["me"] = selfMap
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	cases := []struct {
		name   string
		c      *Codec
		v      any
		target error
		text   string
	}{
		{"unregistered struct", Default(), unregistered{}, ErrUnregisteredType, "codec.unregistered"},
		{"unregistered element", Default(), []any{1, complex(1, 2)}, ErrUnregisteredType, "[]any[1]: shoal/codec: unregistered type: Go type complex128"},
		{"unregistered map value", Default(), map[string]any{"k": struct{}{}}, ErrUnregisteredType, `map[string]any["k"]`},
		{"pointer to builtin", Default(), new(int64), ErrUnregisteredType, "*int64"},
		{"nested slice", Default(), [][]int{{1}}, ErrUnregisteredType, "[][]int"},
		{"self-referencing slice", Default(), selfRef, ErrTooLarge, "nesting deeper than 32"},
		{"self-referencing map", Default(), selfMap, ErrTooLarge, "nesting deeper than 32"},
		{"too large", small, bytes.Repeat([]byte{1}, 64), ErrTooLarge, "limit 64"},
		// Levels: pair, slice, pair, slice, pair: one more than 4.
		{"too deep", small, []any{[]any{[]int{}}}, ErrTooLarge, "nesting deeper than 4 levels"},
		{"registered value too deep", small, []any{gauge{Extra: []any{}}}, ErrTooLarge, "nested level 4"},
		{"too many elements", small, make([]bool, 17), ErrTooLarge, "number of elements 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := NewRegistry()
			noErr(t, reg.Register("test.gauge", gauge{}))
			got, err := tc.c.EncodeAny(reg, tc.v)
			wantErr(t, err, tc.target, tc.text)
			equal(t, got, []byte(nil), "output after error")
		})
	}
}

func TestDecodeAnyRejects(t *testing.T) {
	reg := NewRegistry()
	noErr(t, reg.Register("test.point", point{}))
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	typed := func(tag string, value ...byte) []byte {
		return append(appendText([]byte{0x82}, tag), value...)
	}
	good, err := Default().EncodeAny(reg, map[string]int64{"a": 1})
	noErr(t, err)
	cases := []struct {
		name   string
		c      *Codec
		data   []byte
		target error
		text   string
	}{
		{"empty", nil, nil, ErrMalformed, "empty input"},
		{"not an array", nil, []byte{0x01}, ErrMalformed, "[tag, value]"},
		{"three elements", nil, []byte{0x83, 0x63, 'n', 'i', 'l', 0xf6, 0xf6}, ErrMalformed, "array of 3"},
		{"tag not text", nil, []byte{0x82, 0x01, 0x01}, ErrTypeMismatch, "type tag"},
		{"unknown tag", nil, typed("mystery", 0x01), ErrUnregisteredType, `type tag "mystery"`},
		{"truncated", nil, good[:len(good)-1], ErrMalformed, "truncated"},
		{"trailing garbage", nil, append(append([]byte{}, good...), 0xf6), ErrMalformed, "extraneous"},
		{"int8 overflow", nil, typed("int8", 0x19, 0x01, 0x2c), ErrTypeMismatch, "300 overflows int8"},
		{"uint negative", nil, typed("uint", 0x20), ErrTypeMismatch, "expected unsigned integer, got negative integer"},
		{"int64 overflow", nil, typed("int64", 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0), ErrTypeMismatch, "overflows int64"},
		{"negative int64 overflow", nil, typed("int64", 0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0), ErrTypeMismatch, "overflows int64"},
		{"string for int", nil, typed("int", 0x61, '1'), ErrTypeMismatch, "expected integer, got text string"},
		{"int for float", nil, typed("float64", 0x01), ErrTypeMismatch, "expected float"},
		{"inexact float32", nil, typed("float32", 0xfb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a), ErrTypeMismatch, "not exactly a float32"},
		{"bool from int", nil, typed("bool", 0x01), ErrTypeMismatch, "expected bool"},
		{"nil with value", nil, typed("nil", 0x01), ErrTypeMismatch, `"nil" needs value null`},
		{"time wrong arity", nil, typed("time.Time", 0x81, 0x01), ErrTypeMismatch, "got 1 elements"},
		{"time nanos out of range", nil, typed("time.Time", 0x82, 0x01, 0x1a, 0x3b, 0x9a, 0xca, 0x00), ErrTypeMismatch, "nanoseconds 1000000000"},
		{"slice element wrong", nil, typed("[]int64", 0x82, 0x01, 0x61, 'x'), ErrTypeMismatch, "[]int64[1]"},
		{"map duplicate key", nil, typed("map[string]int", 0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02), ErrMalformed, `map[string]int: duplicate key "a"`},
		{"map key not text", nil, typed("map[string]int", 0xa1, 0x01, 0x01), ErrTypeMismatch, "key"},
		{"invalid utf-8", nil, typed("string", 0x61, 0xff), ErrMalformed, "UTF-8"},
		{"any element not typed", nil, typed("[]any", 0x81, 0x01), ErrMalformed, "[]any[0]"},
		{"registered wrong type", nil, typed("test.point", 0x61, 'x'), ErrTypeMismatch, "codec.point"},
		{"registered duplicate field", nil, typed("test.point", 0xa2, 0x01, 0x01, 0x01, 0x02), ErrMalformed, "duplicate map key"},
		{"tag", nil, typed("int", 0xc1, 0x01), ErrMalformed, "tag"},
		{"oversized", small, make([]byte, 65), ErrTooLarge, "65 bytes, limit 64"},
		{"too deep", small, typed("[]any", 0x81, 0x82, 0x65, '[', ']', 'a', 'n', 'y', 0x81, 0x82, 0x63, 'n', 'i', 'l', 0xf6), ErrTooLarge, "nested level"},
		{"too many elements", small, typed("[]bool", append([]byte{0x91}, bytes.Repeat([]byte{0xf5}, 17)...)...), ErrTooLarge, "number of elements"},
		{"too many pairs", small, typed("map[string]bool", append([]byte{0xb1}, bytes.Repeat([]byte{0x60, 0xf5}, 17)...)...), ErrTooLarge, "key-value pairs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			if c == nil {
				c = Default()
			}
			got, err := c.DecodeAny(reg, tc.data)
			wantErr(t, err, tc.target, tc.text)
			if got != nil {
				t.Errorf("got %#v after error, want nil", got)
			}
		})
	}
}

func TestDecodeAnyResultDoesNotAliasInput(t *testing.T) {
	c, reg := Default(), NewRegistry()
	data, err := c.EncodeAny(reg, []byte("payload"))
	noErr(t, err)
	got, err := c.DecodeAny(reg, data)
	noErr(t, err)
	for i := range data {
		data[i] = 0
	}
	equal(t, got, any([]byte("payload")), "decoded bytes after the input was cleared")
}

func BenchmarkEncodeAnyInt64(b *testing.B) {
	c, reg := Default(), NewRegistry()
	v := any(int64(1732550400))
	b.ReportAllocs()
	for b.Loop() {
		data, err := c.EncodeAny(reg, v)
		if err != nil || len(data) != 12 {
			b.Fatal(err, len(data))
		}
	}
}

func BenchmarkDecodeAnyInt64(b *testing.B) {
	c, reg := Default(), NewRegistry()
	data, err := c.EncodeAny(reg, int64(1732550400))
	noErr(b, err)
	b.ReportAllocs()
	for b.Loop() {
		v, err := c.DecodeAny(reg, data)
		if err != nil || v.(int64) != 1732550400 {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeAnyMap(b *testing.B) {
	c, reg := Default(), NewRegistry()
	v := map[string]any{"count": int64(3), "node": "a", "seen": time.Unix(1, 2), "tags": []string{"x", "y"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncodeAny(reg, v); err != nil {
			b.Fatal(err)
		}
	}
}
