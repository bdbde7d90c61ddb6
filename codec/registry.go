package codec

import (
	"fmt"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Registry maps Go types to the type tags that EncodeAny writes in front of
// a value and DecodeAny reads to rebuild it with its exact Go type. Every
// Registry knows the built-in types (see the package doc); Register adds
// user types. The zero value is not usable: call NewRegistry.
//
// A Registry is safe for concurrent use. Lookups take no lock (they read
// an immutable snapshot); Register copies the snapshot, so it is meant for
// start-up, not the hot path. Peers must register the same tag for the same
// type: the tag is the type's name on the wire.
type Registry struct {
	mu    sync.Mutex // serialises Register
	table atomic.Pointer[typeTable]
}

// typeTable is an immutable set of type entries, indexed both ways.
type typeTable struct {
	byTag  map[string]*typeEntry
	byType map[reflect.Type]*typeEntry
}

// typeEntry is how one Go type is written and read as a typed value.
type typeEntry struct {
	tag string
	typ reflect.Type
	// put appends v's value (v holds exactly typ). depth is the CBOR
	// nesting level of the [tag, value] array being written (1 for the
	// outermost); the value sits one level deeper.
	put func(tc *typedCodec, dst []byte, v any, depth int) ([]byte, error)
	// get reads a value written by put.
	get func(tc *typedCodec, r *reader, depth int) (any, error)
}

// maxTagBytes bounds a registered tag's length.
const maxTagBytes = 255

// NewRegistry returns a Registry that knows the built-in types only.
func NewRegistry() *Registry {
	r := &Registry{}
	r.table.Store(&typeTable{byTag: map[string]*typeEntry{}, byType: map[reflect.Type]*typeEntry{}})
	return r
}

// Register makes example's Go type (its dynamic type, so register &T{} for
// *T) encodable under tag. The value is written with the Codec's Marshal
// and read with its Unmarshal, so struct fields follow fxamacker/cbor's
// struct tags, and fields unknown to an older peer are skipped.
//
// It returns an error wrapping ErrRegistration when the Registry is nil or
// was not made by NewRegistry, example is nil, tag is empty, longer than
// 255 bytes or not UTF-8, the tag or type is built in or already
// registered, or example does not encode.
func (r *Registry) Register(tag string, example any) error {
	if r == nil || r.table.Load() == nil {
		return fmt.Errorf("%w: registry not made by NewRegistry", ErrRegistration)
	}
	if example == nil {
		return fmt.Errorf("%w: tag %q: example is nil", ErrRegistration, tag)
	}
	typ := reflect.TypeOf(example)
	switch {
	case tag == "":
		return fmt.Errorf("%w: empty tag for %v", ErrRegistration, typ)
	case len(tag) > maxTagBytes:
		return fmt.Errorf("%w: tag for %v is %d bytes, limit %d", ErrRegistration, typ, len(tag), maxTagBytes)
	case !utf8.ValidString(tag):
		return fmt.Errorf("%w: tag %q for %v is not valid UTF-8", ErrRegistration, tag, typ)
	}
	if e, ok := builtins.byTag[tag]; ok {
		return fmt.Errorf("%w: tag %q is built in (for %v)", ErrRegistration, tag, e.typ)
	}
	if e, ok := builtins.byType[typ]; ok {
		return fmt.Errorf("%w: type %v is built in (tag %q)", ErrRegistration, typ, e.tag)
	}
	if _, err := Default().Marshal(example); err != nil {
		return fmt.Errorf("%w: tag %q: example of %v does not encode: %w", ErrRegistration, tag, typ, err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	if e, ok := old.byTag[tag]; ok {
		return fmt.Errorf("%w: tag %q is already registered for %v", ErrRegistration, tag, e.typ)
	}
	if e, ok := old.byType[typ]; ok {
		return fmt.Errorf("%w: type %v is already registered as %q", ErrRegistration, typ, e.tag)
	}
	e := &typeEntry{tag: tag, typ: typ, put: putRegistered, get: getRegistered(typ)}
	next := &typeTable{byTag: maps.Clone(old.byTag), byType: maps.Clone(old.byType)}
	next.byTag[tag] = e
	next.byType[typ] = e
	r.table.Store(next)
	return nil
}

// Tag returns the tag v's Go type is written with, and whether the
// Registry (built-in or registered) knows it. A nil v has tag "nil".
func (r *Registry) Tag(v any) (string, bool) {
	e, ok := r.byType(reflect.TypeOf(v))
	if !ok {
		return "", false
	}
	return e.tag, true
}

// byType finds the entry for typ (nil for a nil interface value).
func (r *Registry) byType(typ reflect.Type) (*typeEntry, bool) {
	if typ == nil {
		return nilEntry, true
	}
	if e, ok := builtins.byType[typ]; ok {
		return e, true
	}
	if r == nil {
		return nil, false
	}
	if t := r.table.Load(); t != nil {
		e, ok := t.byType[typ]
		return e, ok
	}
	return nil, false
}

// byTag finds the entry for a tag read from the wire (the map index
// expressions convert tag without allocating).
func (r *Registry) byTag(tag []byte) (*typeEntry, bool) {
	if e, ok := builtins.byTag[string(tag)]; ok {
		return e, true
	}
	if r == nil {
		return nil, false
	}
	if t := r.table.Load(); t != nil {
		e, ok := t.byTag[string(tag)]
		return e, ok
	}
	return nil, false
}

// putRegistered writes a registered user value with fxamacker/cbor.
func putRegistered(tc *typedCodec, dst []byte, v any, _ int) ([]byte, error) {
	return tc.c.appendMarshalNoLimit(dst, v)
}

// getRegistered returns a reader for values of a registered type.
func getRegistered(typ reflect.Type) func(tc *typedCodec, r *reader, depth int) (any, error) {
	return func(tc *typedCodec, r *reader, _ int) (any, error) {
		raw, err := r.rawItem()
		if err != nil {
			return nil, err
		}
		p := reflect.New(typ)
		if err := tc.c.Unmarshal(raw, p.Interface()); err != nil {
			return nil, err
		}
		return p.Elem().Interface(), nil
	}
}
