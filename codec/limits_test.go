package codec

import (
	"math"
	"testing"
)

func TestNewValidatesLimits(t *testing.T) {
	ok := DefaultLimits()
	cases := map[string]func(*Limits){
		"message too small": func(l *Limits) { l.MaxMessageBytes = 63 },
		"zero value":        func(l *Limits) { *l = Limits{} },
		"nesting low":       func(l *Limits) { l.MaxNestedLevels = 3 },
		"nesting high":      func(l *Limits) { l.MaxNestedLevels = 65536 },
		"array low":         func(l *Limits) { l.MaxArrayElements = 15 },
		"array high":        func(l *Limits) { l.MaxArrayElements = math.MaxInt32 + 1 },
		"map low":           func(l *Limits) { l.MaxMapPairs = -1 },
		"map high":          func(l *Limits) { l.MaxMapPairs = math.MaxInt32 + 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			l := ok
			mutate(&l)
			c, err := New(l)
			wantErr(t, err, ErrInvalidLimits, "")
			if c != nil {
				t.Error("New returned a Codec with an error")
			}
		})
	}
	c, err := New(ok)
	noErr(t, err)
	equal(t, c.Limits(), ok, "Limits")
	equal(t, Default().Limits(), DefaultLimits(), "Default().Limits")
	if d1, d2 := Default(), Default(); d1 != d2 {
		t.Error("Default returned different Codecs")
	}
}
