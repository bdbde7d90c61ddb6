package codec

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"testing"
)

func TestRegistryRegister(t *testing.T) {
	reg := NewRegistry()
	noErr(t, reg.Register("test.point", point{}))
	cases := []struct {
		name    string
		reg     *Registry
		tag     string
		example any
		text    string
	}{
		{"duplicate tag", reg, "test.point", &point{}, `tag "test.point" is already registered for codec.point`},
		{"duplicate type", reg, "other", point{}, `type codec.point is already registered as "test.point"`},
		{"builtin tag", reg, "int64", struct{ A int }{}, `tag "int64" is built in`},
		{"builtin type", reg, "myint", int64(0), `type int64 is built in`},
		{"builtin nil tag", reg, "nil", struct{ B int }{}, `tag "nil" is built in`},
		{"nil example", reg, "x", nil, "example is nil"},
		{"empty tag", reg, "", struct{ C int }{}, "empty tag"},
		{"long tag", reg, string(bytes.Repeat([]byte{'t'}, 256)), struct{ D int }{}, "256 bytes"},
		{"invalid utf-8 tag", reg, "\xff", struct{ E int }{}, "UTF-8"},
		{"unencodable", reg, "ch", make(chan int), "does not encode"},
		{"zero registry", &Registry{}, "x", struct{ F int }{}, "NewRegistry"},
		{"nil registry", nil, "x", struct{ G int }{}, "NewRegistry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.reg.Register(tc.tag, tc.example), ErrRegistration, tc.text)
		})
	}
	tag, ok := reg.Tag(point{})
	equal(t, tag, "test.point", "Tag of a registered type")
	equal(t, ok, true, "Tag ok")
	tag, ok = reg.Tag([]int64{})
	equal(t, tag, "[]int64", "Tag of a built-in type")
	equal(t, ok, true, "Tag ok of a built-in type")
	_, ok = reg.Tag(struct{}{})
	equal(t, ok, false, "Tag of an unknown type")
}

func TestRegistryIsolation(t *testing.T) {
	a, b := NewRegistry(), NewRegistry()
	noErr(t, a.Register("test.point", point{}))
	data, err := Default().EncodeAny(a, point{X: 1})
	noErr(t, err)
	_, err = Default().DecodeAny(b, data)
	wantErr(t, err, ErrUnregisteredType, `"test.point"`)
	_, err = Default().EncodeAny(b, point{})
	wantErr(t, err, ErrUnregisteredType, "codec.point")
	// A nil registry knows the built-in types only.
	data, err = Default().EncodeAny(nil, int64(5))
	noErr(t, err)
	got, err := Default().DecodeAny(nil, data)
	noErr(t, err)
	equal(t, got, any(int64(5)), "built-in type with nil registry")
}

func TestRegistryConcurrentUse(t *testing.T) {
	reg := NewRegistry()
	c := Default()
	done := make(chan error)
	type k0 struct{ A int }
	type k1 struct{ A int }
	type k2 struct{ A int }
	type k3 struct{ A int }
	examples := []any{k0{}, k1{}, k2{}, k3{}}
	for i, ex := range examples {
		go func() {
			if err := reg.Register("test.k"+strconv.Itoa(i), ex); err != nil {
				done <- err
				return
			}
			for range 100 {
				data, err := c.EncodeAny(reg, []any{ex, int64(i)})
				if err != nil {
					done <- err
					return
				}
				got, err := c.DecodeAny(reg, data)
				if err != nil {
					done <- err
					return
				}
				if !reflect.DeepEqual(got, []any{ex, int64(i)}) {
					done <- fmt.Errorf("got %#v", got)
					return
				}
			}
			done <- nil
		}()
	}
	for range examples {
		noErr(t, <-done)
	}
}
