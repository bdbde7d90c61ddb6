package codec

import (
	"fmt"
	"reflect"
	"sync"
	"time"
)

// Marshal writes time.Time as an RFC 3339 string in UTC, which holds the
// years 0 to 9999 only, but fxamacker/cbor decodes a time.Time from any
// RFC 3339 string (with an offset that can carry it past those years) and
// from integer or float epoch seconds. Unmarshal therefore checks the
// times it decoded: a value a node accepts must be one it can send on, or
// a single bad state from a peer would stop every node from gossiping the
// value it was merged into.

var timeType = reflect.TypeFor[time.Time]()

// timeTypes caches, per Go type, whether a value of it can hold a
// time.Time that decoding fills. It belongs to a Codec (no package-level
// state) and only grows by the types the program decodes into.
type timeTypes struct {
	cache sync.Map // reflect.Type -> bool
}

// has reports whether t can hold a decoded time.Time.
func (tt *timeTypes) has(t reflect.Type) bool {
	if v, ok := tt.cache.Load(t); ok {
		return v.(bool)
	}
	has := holdsTime(t, map[reflect.Type]bool{})
	tt.cache.Store(t, has)
	return has
}

// holdsTime walks t's structure. Interfaces are not followed: decoding into
// an interface never produces a time.Time (CBOR tags are forbidden).
func holdsTime(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if t == timeType {
		return true
	}
	if visiting[t] {
		return false
	}
	visiting[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsTime(t.Elem(), visiting)
	case reflect.Map:
		return holdsTime(t.Key(), visiting) || holdsTime(t.Elem(), visiting)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && holdsTime(f.Type, visiting) {
				return true
			}
		}
	}
	return false
}

// checkTimes returns an error wrapping ErrTypeMismatch for the first
// time.Time in v that Marshal could not encode. Decoded values have no
// pointer cycles, and their depth is bounded by MaxNestedLevels.
func checkTimes(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return checkTimes(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkTimes(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if err := checkTimes(it.Key()); err != nil {
				return err
			}
			if err := checkTimes(it.Value()); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if !v.CanInterface() {
				return nil
			}
			t := v.Interface().(time.Time)
			if y := t.UTC().Year(); !t.IsZero() && (y < 0 || y > 9999) {
				return fmt.Errorf("%w: time %s is outside the years 0 to 9999 UTC that the wire format holds", ErrTypeMismatch, t.UTC().Format(time.RFC3339))
			}
			return nil
		}
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			if err := checkTimes(v.Field(i)); err != nil {
				return err
			}
		}
	}
	return nil
}
