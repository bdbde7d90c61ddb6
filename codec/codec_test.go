package codec

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// gauge stands for the CRDT states swarm marshals: keyasint fields, a
// nested map and slice, a time.
type gauge struct {
	Name    string           `cbor:"1,keyasint"`
	Slots   map[string]int64 `cbor:"2,keyasint"`
	History []float64        `cbor:"3,keyasint"`
	At      time.Time        `cbor:"4,keyasint"`
	Extra   any              `cbor:"5,keyasint,omitempty"`
}

func TestMarshalRoundTrip(t *testing.T) {
	c := Default()
	want := gauge{
		Name:    "g",
		Slots:   map[string]int64{"b": -2, "a": 1, "ccc": math.MaxInt64},
		History: []float64{0.5, math.Inf(1)},
		At:      time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", -7200)),
		Extra:   map[string]any{"n": int64(3), "list": []any{int64(-1), "s"}},
	}
	data, err := c.Marshal(want)
	noErr(t, err)
	var got gauge
	noErr(t, c.Unmarshal(data, &got))
	if !got.At.Equal(want.At) || got.At.Location() != time.UTC {
		t.Errorf("time: got %v, want %v in UTC", got.At, want.At)
	}
	got.At, want.At = time.Time{}, time.Time{}
	equal(t, got, want, "decoded struct")

	// Deterministic: map order does not leak into the bytes.
	for range 20 {
		again, err := c.Marshal(gauge{Name: "g", Slots: map[string]int64{"ccc": math.MaxInt64, "a": 1, "b": -2}})
		noErr(t, err)
		first, err := c.Marshal(gauge{Name: "g", Slots: map[string]int64{"a": 1, "b": -2, "ccc": math.MaxInt64}})
		noErr(t, err)
		if !bytes.Equal(again, first) {
			t.Fatal("same value, different bytes")
		}
	}

	out, err := c.AppendMarshal([]byte("pre"), int64(-1))
	noErr(t, err)
	equal(t, out, []byte{'p', 'r', 'e', 0x20}, "AppendMarshal")
}

func TestUnmarshalIgnoresUnknownFields(t *testing.T) {
	// {1: "g", 99: [1, 2], 2: {"a": 1}}
	data := []byte{0xa3, 0x01, 0x61, 'g', 0x18, 99, 0x82, 0x01, 0x02, 0x02, 0xa1, 0x61, 'a', 0x01}
	var got gauge
	noErr(t, Default().Unmarshal(data, &got))
	equal(t, got, gauge{Name: "g", Slots: map[string]int64{"a": 1}}, "decoded struct")
}

func TestUnmarshalRejects(t *testing.T) {
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	good, err := Default().Marshal(gauge{Name: "g"})
	noErr(t, err)
	cases := []struct {
		name   string
		c      *Codec
		data   []byte
		target error
		text   string
	}{
		{"empty", Default(), nil, ErrMalformed, "truncated"},
		{"truncated", Default(), good[:len(good)-1], ErrMalformed, "truncated"},
		{"trailing garbage", Default(), append(append([]byte{}, good...), 0x01), ErrMalformed, "extraneous"},
		{"wrong type names field", Default(), []byte{0xa1, 0x01, 0x05}, ErrTypeMismatch, "struct field codec.gauge.1 of type string"},
		{"duplicate key", Default(), []byte{0xa2, 0x01, 0x61, 'a', 0x01, 0x61, 'b'}, ErrMalformed, "duplicate map key"},
		{"indefinite", Default(), []byte{0xbf, 0xff}, ErrMalformed, "indefinite"},
		{"tag", Default(), []byte{0xa1, 0x04, 0xc1, 0x01}, ErrMalformed, "tag"},
		{"uint64 into any", Default(), []byte{0xa1, 0x05, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrTypeMismatch, "overflows"},
		{"oversized", small, make([]byte, 65), ErrTooLarge, "65 bytes, limit 64"},
		{"too deep", small, []byte{0xa1, 0x05, 0x81, 0x81, 0x81, 0x81, 0x01}, ErrTooLarge, "nested level 4"},
		{"too many elements", small, append([]byte{0xa1, 0x03, 0x91}, bytes.Repeat([]byte{0x01}, 17)...), ErrTooLarge, "elements 16"},
		{"too many pairs", small, append([]byte{0xa1, 0x02, 0xb1}, bytes.Repeat([]byte{0x60, 0x01}, 17)...), ErrTooLarge, "pairs 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var g gauge
			wantErr(t, tc.c.Unmarshal(tc.data, &g), tc.target, tc.text)
		})
	}
	// The fxamacker/cbor error stays in the chain.
	var g gauge
	err = Default().Unmarshal([]byte{0xa1, 0x01, 0x05}, &g)
	var typeErr *cbor.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.StructFieldName != "codec.gauge.1" {
		t.Errorf("error %v does not carry the cbor.UnmarshalTypeError for field 1", err)
	}
	wantErr(t, Default().Unmarshal(good, g), ErrTypeMismatch, "non-pointer")
}

func TestMarshalRejects(t *testing.T) {
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	_, err = Default().Marshal(make(chan int))
	wantErr(t, err, ErrTypeMismatch, "chan int")
	_, err = small.Marshal([]any{[]any{[]any{[]any{[]any{1}}}}})
	wantErr(t, err, ErrTooLarge, "nested level 4")
	_, err = small.Marshal(make([]int, 17))
	wantErr(t, err, ErrTooLarge, "elements 16")
	out, err := small.AppendMarshal([]byte{9}, make([]byte, 64))
	wantErr(t, err, ErrTooLarge, "66 bytes, limit 64")
	equal(t, out, []byte{9}, "dst after error")
}

// Default is built by newCodec, which skips Limits.Validate: the limits it
// is built with must pass it, and fxamacker/cbor must accept the options.
func TestDefaultIsBuiltWithoutError(t *testing.T) {
	noErr(t, DefaultLimits().Validate())
	noErr(t, newCodec(DefaultLimits()).err)
	noErr(t, Default().err)
	if Default().enc == nil || Default().dec == nil {
		t.Fatal("Default has no encoder or decoder")
	}
}

// A Codec whose decoder fxamacker/cbor rejected returns that error from
// every encode and decode instead of panicking.
func TestUnbuiltCodecReturnsItsError(t *testing.T) {
	l := DefaultLimits()
	l.MaxNestedLevels = 1 // below fxamacker/cbor's minimum of 4
	c := newCodec(l)
	if c.err == nil {
		t.Fatal("newCodec accepted MaxNestedLevels 1")
	}
	wantErr(t, c.err, c.err, "building decoder")
	good, err := Default().Marshal(gauge{Name: "g"})
	noErr(t, err)
	env, err := Default().EncodeEnvelope(&Envelope{Version: Version, Kind: KindDelta, Name: "g", Type: "t", Payload: good})
	noErr(t, err)
	batch, err := Default().EncodeBatch([]Envelope{{Version: Version, Kind: KindDelta, Name: "g", Type: "t", Payload: good}})
	noErr(t, err)

	_, err = c.Marshal(gauge{Name: "g"})
	wantErr(t, err, c.err, "marshal codec.gauge")
	var g gauge
	wantErr(t, c.Unmarshal(good, &g), c.err, "unmarshal into *codec.gauge")
	_, err = c.DecodeEnvelope(env)
	wantErr(t, err, c.err, "decode envelope")
	_, err = c.DecodeBatch(batch)
	wantErr(t, err, c.err, "decode batch")
	_, err = c.EncodeAny(NewRegistry(), int64(1))
	wantErr(t, err, c.err, "encode int64")
	_, err = c.DecodeAny(NewRegistry(), good)
	wantErr(t, err, c.err, "decode typed value")
}
