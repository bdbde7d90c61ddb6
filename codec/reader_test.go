package codec

import (
	"math"
	"testing"
)

func TestHalfToFloat64(t *testing.T) {
	cases := []struct {
		bits uint16
		want float64
	}{
		{0x0000, 0}, {0x8000, math.Copysign(0, -1)}, {0x3c00, 1}, {0xc000, -2},
		{0x7bff, 65504}, {0x0001, 5.960464477539063e-8}, {0x0400, 6.103515625e-5},
		{0x7c00, math.Inf(1)}, {0xfc00, math.Inf(-1)},
	}
	for _, tc := range cases {
		got := halfToFloat64(tc.bits)
		if got != tc.want || math.Signbit(got) != math.Signbit(tc.want) {
			t.Errorf("halfToFloat64(%#04x) = %v, want %v", tc.bits, got, tc.want)
		}
	}
	if !math.IsNaN(halfToFloat64(0x7e00)) {
		t.Error("0x7e00 is not NaN")
	}
}

// The reader runs after Wellformed, but must stand on its own: these
// inputs reach it directly.
func TestReaderRejectsBadInput(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		text string
	}{
		{"empty", nil, "truncated input"},
		{"short argument", []byte{0x19, 0x01}, "truncated input"},
		{"reserved", []byte{0x1c}, "reserved additional information 28"},
		{"indefinite", []byte{0x5f}, "indefinite-length byte string"},
		{"string past end", []byte{0x63, 'a'}, "text string of 3 bytes is truncated"},
		{"array past end", []byte{0x9a, 0xff, 0xff, 0xff, 0xff}, "array of 4294967295 entries is longer than the input"},
		{"map value missing", []byte{0xa1, 0x01}, "map of 1 entries is longer than the input"},
		{"array item truncated", []byte{0x82, 0x01, 0x19}, "truncated input"},
		{"tag", []byte{0xc0, 0x00}, "CBOR tags are not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := reader{data: tc.data}
			wantErr(t, r.skip(), ErrMalformed, tc.text)
		})
	}
}

func TestReaderSkipsNestedItems(t *testing.T) {
	// [{"a": [1, h'00']}, 2.5, -1], then 0x07.
	data := []byte{0x83, 0xa1, 0x61, 'a', 0x82, 0x01, 0x41, 0x00, 0xf9, 0x41, 0x00, 0x20, 0x07}
	r := reader{data: data}
	raw, err := r.rawItem()
	noErr(t, err)
	equal(t, raw, data[:len(data)-1], "raw item")
	v, err := r.uint()
	noErr(t, err)
	equal(t, v, uint64(7), "next item")
}

func TestAppendHeadIsShortest(t *testing.T) {
	cases := []struct {
		n    uint64
		want []byte
	}{
		{0, []byte{0x00}}, {23, []byte{0x17}}, {24, []byte{0x18, 24}}, {255, []byte{0x18, 0xff}},
		{256, []byte{0x19, 0x01, 0x00}}, {65535, []byte{0x19, 0xff, 0xff}}, {65536, []byte{0x1a, 0, 1, 0, 0}},
		{math.MaxUint32, []byte{0x1a, 0xff, 0xff, 0xff, 0xff}}, {math.MaxUint32 + 1, []byte{0x1b, 0, 0, 0, 1, 0, 0, 0, 0}},
	}
	for _, tc := range cases {
		got := appendHead(nil, majorUint, tc.n)
		equal(t, got, tc.want, "appendHead")
		equal(t, headSize(tc.n), len(tc.want), "headSize")
	}
}
