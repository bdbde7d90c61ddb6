package codec

import (
	"bytes"
	"math"
	"testing"
)

// The tests beside this one check that what is over a limit is refused;
// these check that what is exactly at it is accepted, so that a limit off
// by one in either direction fails a test.

func TestLimitsAcceptTheirBoundaries(t *testing.T) {
	for name, l := range map[string]Limits{
		"lowest":  {MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16},
		"highest": {MaxMessageBytes: math.MaxInt32, MaxNestedLevels: 65535, MaxArrayElements: math.MaxInt32, MaxMapPairs: math.MaxInt32},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(l)
			noErr(t, err)
		})
	}
}

func TestUnmarshalAcceptsWhatIsAtTheLimits(t *testing.T) {
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	cases := []struct {
		name string
		data []byte
	}{
		// {1: "aaa…"} of exactly 64 bytes: 1 + 1 + 2 + 60.
		{"64 bytes", append([]byte{0xa1, 0x01, 0x78, 60}, bytes.Repeat([]byte{'a'}, 60)...)},
		// {5: [[[1]]]}: the map and three arrays, 4 levels.
		{"4 levels", []byte{0xa1, 0x05, 0x81, 0x81, 0x81, 0x01}},
		{"16 elements", append([]byte{0xa1, 0x03, 0x90}, bytes.Repeat([]byte{0x01}, 16)...)},
		// {2: {"": 1, "a": 1, …}}: 16 distinct keys (the outer map has 1 pair).
		{"16 pairs", func() []byte {
			b := []byte{0xa1, 0x02, 0xb0}
			for i := 0; i < 16; i++ {
				b = append(b, 0x61, byte('a'+i), 0x01)
			}
			return b
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var g gauge
			noErr(t, small.Unmarshal(tc.data, &g))
		})
	}
}

// The reader's checks against the bytes left accept an item that ends
// exactly at the end of the input, and the integer range ends exactly at
// int64's.
func TestReaderAcceptsExactFits(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"string to the end", []byte{0x63, 'a', 'b', 'c'}},
		{"byte string to the end", []byte{0x42, 0x00, 0x01}},
		{"array to the end", []byte{0x82, 0x01, 0x02}},
		{"map to the end", []byte{0xa1, 0x01, 0x02}},
		{"8-byte argument to the end", []byte{0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"1-byte argument to the end", []byte{0x18, 0x18}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := reader{data: tc.data}
			noErr(t, r.skip())
			equal(t, r.off, len(tc.data), "offset after skip")
		})
	}

	ints := []struct {
		data []byte
		want int64
	}{
		{[]byte{0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, math.MaxInt64},
		{[]byte{0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, math.MinInt64},
		{[]byte{0x20}, -1},
		{[]byte{0x00}, 0},
	}
	for _, tc := range ints {
		r := reader{data: tc.data}
		v, err := r.int()
		noErr(t, err)
		equal(t, v, tc.want, "int")
	}
	for _, data := range [][]byte{
		{0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0}, // MaxInt64 + 1
		{0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0}, // MinInt64 - 1
	} {
		r := reader{data: data}
		_, err := r.int()
		wantErr(t, err, ErrTypeMismatch, "overflows int64")
	}
}
