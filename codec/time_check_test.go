package codec

import (
	"reflect"
	"testing"
	"time"
)

type timeTree struct {
	At       time.Time            `cbor:"1,keyasint"`
	Children []*timeTree          `cbor:"2,keyasint"`
	ByName   map[string]time.Time `cbor:"3,keyasint"`
	hidden   time.Time
}

func TestUnmarshalRejectsTimesMarshalCannotSend(t *testing.T) {
	c := Default()
	text := func(s string) []byte { return appendText(nil, s) }
	cases := []struct {
		name string
		data []byte
		text string
	}{
		// {1: 1e15 seconds}
		{"epoch seconds far in the future", append([]byte{0xa1, 0x01}, appendUint(nil, 1e15)...), "outside the years 0 to 9999"},
		{"float epoch", []byte{0xa1, 0x01, 0xfa, 0x58, 0x30, 0x30, 0x30}, "outside the years 0 to 9999"},
		{"offset pushes past year 9999", append([]byte{0xa1, 0x01}, text("9999-12-31T23:59:59-01:00")...), "10000-01-01T00:59:59Z"},
		{"nested in a slice of pointers", append([]byte{0xa1, 0x02, 0x81, 0xa1, 0x01}, text("0000-01-01T00:00:00+01:00")...), "outside the years 0 to 9999"},
		{"in a map", append([]byte{0xa1, 0x03, 0xa1, 0x61, 'k', 0x3b}, 0x7f, 0, 0, 0, 0, 0, 0, 0), "outside the years 0 to 9999"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v timeTree
			wantErr(t, c.Unmarshal(tc.data, &v), ErrTypeMismatch, tc.text)
		})
	}

	// In range: accepted, and sent on unchanged.
	var v timeTree
	noErr(t, c.Unmarshal(append([]byte{0xa1, 0x01}, text("9999-12-31T23:59:59+01:00")...), &v))
	out, err := c.Marshal(v)
	noErr(t, err)
	var back timeTree
	noErr(t, c.Unmarshal(out, &back))
	if !back.At.Equal(v.At) {
		t.Errorf("got %v, want %v", back.At, v.At)
	}
}

func TestMarshalRejectsTimeOutOfRange(t *testing.T) {
	_, err := Default().Marshal(timeTree{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	wantErr(t, err, ErrTypeMismatch, "year outside of range")
}

func TestHoldsTime(t *testing.T) {
	type plain struct{ A, B int }
	type private struct {
		at time.Time //lint:ignore U1000 only its type is inspected
	}
	cases := []struct {
		typ  reflect.Type
		want bool
	}{
		{reflect.TypeFor[timeTree](), true},
		{reflect.TypeFor[*[]map[time.Time]int](), true},
		{reflect.TypeFor[[2]time.Time](), true},
		{reflect.TypeFor[plain](), false},
		{reflect.TypeFor[private](), false},
		{reflect.TypeFor[map[string]any](), false},
		{reflect.TypeFor[gauge](), true},
	}
	var tt timeTypes
	for _, tc := range cases {
		equal(t, tt.has(tc.typ), tc.want, tc.typ.String())
		equal(t, tt.has(tc.typ), tc.want, tc.typ.String()+" (cached)")
	}
	// Unexported fields are neither followed nor a reason to panic.
	v := timeTree{hidden: time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)}
	noErr(t, checkTimes(reflect.ValueOf(&v)))
}
