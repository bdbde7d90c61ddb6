package codec

import (
	"fmt"
	"unicode/utf8"
)

// A pack is the payload of an envelope that carries many values of one
// type from one origin: a CBOR array alternating each value's name (a text
// string) and payload (a byte string), [name0, payload0, name1, ...]. The
// envelope's type and origin hold for every entry, so they are written
// once instead of once per value: a counter delta takes 83 bytes as an
// envelope of its own in a batch and 41 as a pack entry. swarm sends a
// burst as packs (swarm/flush.go).
//
// A sender sizes its packs with PackEntrySize and PackSize, then writes
// AppendPackHead and one AppendPackEntry per entry; a receiver reads them
// with DecodePackEach.

// PackEntrySize returns the bytes an entry of name and payload takes in a
// pack.
func PackEntrySize(name string, payload []byte) int {
	return headSize(uint64(len(name))) + len(name) + headSize(uint64(len(payload))) + len(payload)
}

// PackSize returns the size of a pack of n entries whose PackEntrySize
// total entryBytes.
func PackSize(n, entryBytes int) int { return headSize(uint64(2*n)) + entryBytes }

// AppendPackHead appends the head of a pack of n entries.
func AppendPackHead(dst []byte, n int) []byte { return appendHead(dst, majorArray, uint64(2*n)) }

// AppendPackEntry appends one entry. A name that is not valid UTF-8 is an
// error wrapping ErrMalformed (a receiver would refuse the whole pack), and
// dst is returned unchanged.
func AppendPackEntry(dst []byte, name string, payload []byte) ([]byte, error) {
	if !utf8.ValidString(name) {
		return dst, fmt.Errorf("shoal/codec: pack entry: %w: name %q is not valid UTF-8", ErrMalformed, name)
	}
	dst = appendHead(dst, majorText, uint64(len(name)))
	dst = append(dst, name...)
	dst = appendHead(dst, majorBytes, uint64(len(payload)))
	return append(dst, payload...), nil
}

// DecodePackEach reads a pack entry by entry, handing each name and
// payload to fn as soon as it is read; both alias data, and fn must not
// keep them. The pack is checked against c's limits and to be well-formed
// CBOR first; then each entry must be a UTF-8 text string followed by a
// byte string, and nothing may follow the last. Like DecodeBatchEach it is
// not all or nothing: on a bad entry it returns an error wrapping
// ErrMalformed (or ErrTooLarge, ErrTypeMismatch) after fn has taken the
// entries before it. It returns the number of entries fn took.
func (c *Codec) DecodePackEach(data []byte, fn func(name, payload []byte)) (int, error) {
	if err := c.wellformed("decode pack", data); err != nil {
		return 0, err
	}
	r := reader{data: data}
	h, err := r.head()
	if err != nil {
		return 0, fmt.Errorf("shoal/codec: decode pack: %w", err)
	}
	if h.major != majorArray {
		return 0, fmt.Errorf("shoal/codec: decode pack: %w", malformed(h.at, "pack must be an array, got %s", majorName(h.major)))
	}
	if h.arg%2 != 0 {
		return 0, fmt.Errorf("shoal/codec: decode pack: %w", malformed(h.at, "pack of %d items is not name and payload pairs", h.arg))
	}
	n, err := r.count(h, 1) // an entry takes at least 2 bytes: two empty strings
	if err != nil {
		return 0, fmt.Errorf("shoal/codec: decode pack: %w", err)
	}
	n /= 2
	for i := range n {
		name, err := r.textBytes()
		if err != nil {
			return i, fmt.Errorf("shoal/codec: decode pack: entry %d of %d: name: %w", i, n, err)
		}
		ph, err := r.expect(majorBytes)
		if err == nil {
			var payload []byte
			if payload, err = r.payload(ph); err == nil {
				fn(name, payload)
				continue
			}
		}
		return i, fmt.Errorf("shoal/codec: decode pack: entry %d of %d (%q): payload: %w", i, n, name, err)
	}
	if r.off != len(data) {
		return n, fmt.Errorf("shoal/codec: decode pack: %w", malformed(r.off, "%d bytes of trailing data", len(data)-r.off))
	}
	return n, nil
}
