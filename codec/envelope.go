package codec

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/shoal-go/shoal/crdt"
)

// Envelope is one message of the protocol: a payload and what a receiver
// needs to route it. On the wire it is a CBOR map with small integer keys
// (see the package doc for the layout).
type Envelope struct {
	// Version is the protocol version the envelope was written with. It is
	// set by DecodeEnvelope; EncodeEnvelope ignores it and always writes
	// Version (the constant), so a relayed envelope is re-encoded in this
	// build's version.
	Version uint16
	// Kind says what the payload is. It must not be 0.
	Kind Kind
	// Name is the shared value's name.
	Name string
	// Type is the value's type tag (swarm uses reflect type strings such
	// as "*crdt.GCounter"), checked by the receiver before it decodes the
	// payload.
	Type string
	// Origin is the replica that produced the payload.
	Origin crdt.Replica
	// Seq is an optional sequence number; 0 means none.
	Seq uint64
	// Payload is the CBOR-encoded value, opaque to the envelope. After
	// DecodeEnvelope it aliases the input: the caller must not modify the
	// input while it uses Payload, and must copy Payload to keep it longer
	// than the input.
	Payload []byte
}

// Envelope map keys. Numbers are never reused: a removed field's key stays
// reserved, and new fields take new numbers (readers skip unknown keys).
const (
	keyVersion     = 1
	keyKind        = 2
	keyName        = 3
	keyType        = 4
	keyNode        = 5
	keyIncarnation = 6
	keySeq         = 7
	keyPayload     = 8
	keyCount       = 9 // one past the highest known key
)

// minEnvelopeBytes is the size of the smallest valid envelope,
// {1: 1, 2: k}.
const minEnvelopeBytes = 5

var keyNames = [keyCount]string{
	keyVersion:     "version",
	keyKind:        "kind",
	keyName:        "name",
	keyType:        "type",
	keyNode:        "origin node",
	keyIncarnation: "origin incarnation",
	keySeq:         "seq",
	keyPayload:     "payload",
}

// check reports whether e may be encoded.
func (e *Envelope) check() error {
	switch {
	case e.Kind == 0:
		return fmt.Errorf("%w: envelope %q: kind 0 is reserved", ErrMalformed, e.Name)
	case !utf8.ValidString(e.Name):
		return fmt.Errorf("%w: envelope name %q is not valid UTF-8", ErrMalformed, e.Name)
	case !utf8.ValidString(e.Type):
		return fmt.Errorf("%w: envelope %q: type %q is not valid UTF-8", ErrMalformed, e.Name, e.Type)
	case !utf8.ValidString(e.Origin.Node):
		return fmt.Errorf("%w: envelope %q: origin node %q is not valid UTF-8", ErrMalformed, e.Name, e.Origin.Node)
	}
	return nil
}

// size returns the encoded length of e. Fields holding their zero value
// are left out (Version and Kind never are), which keeps the encoding
// unique for a given envelope.
func (e *Envelope) size() int {
	size := headSize(e.pairs()) + 1 + headSize(Version) + 1 + headSize(uint64(e.Kind))
	for _, s := range [...]string{e.Name, e.Type, e.Origin.Node} {
		if s != "" {
			size += 1 + headSize(uint64(len(s))) + len(s)
		}
	}
	for _, n := range [...]uint64{e.Origin.Incarnation, e.Seq} {
		if n != 0 {
			size += 1 + headSize(n)
		}
	}
	if len(e.Payload) != 0 {
		size += 1 + headSize(uint64(len(e.Payload))) + len(e.Payload)
	}
	return size
}

// pairs returns the number of map pairs e encodes to.
func (e *Envelope) pairs() uint64 {
	n := uint64(2) // version and kind
	for _, present := range [...]bool{
		e.Name != "", e.Type != "", e.Origin.Node != "", e.Origin.Incarnation != 0, e.Seq != 0, len(e.Payload) != 0,
	} {
		if present {
			n++
		}
	}
	return n
}

// appendEnvelope writes e, which passed check, in key order.
func appendEnvelope(dst []byte, e *Envelope) []byte {
	dst = appendHead(dst, majorMap, e.pairs())
	dst = appendUint(appendUint(dst, keyVersion), Version)
	dst = appendUint(appendUint(dst, keyKind), uint64(e.Kind))
	if e.Name != "" {
		dst = appendText(appendUint(dst, keyName), e.Name)
	}
	if e.Type != "" {
		dst = appendText(appendUint(dst, keyType), e.Type)
	}
	if e.Origin.Node != "" {
		dst = appendText(appendUint(dst, keyNode), e.Origin.Node)
	}
	if e.Origin.Incarnation != 0 {
		dst = appendUint(appendUint(dst, keyIncarnation), e.Origin.Incarnation)
	}
	if e.Seq != 0 {
		dst = appendUint(appendUint(dst, keySeq), e.Seq)
	}
	if len(e.Payload) != 0 {
		dst = appendBytes(appendUint(dst, keyPayload), e.Payload)
	}
	return dst
}

// EncodeEnvelope encodes e as a single-envelope message (a CBOR map; its
// first byte is in 0xa0..0xbb). The error wraps ErrMalformed when e.Kind
// is 0 or a string is not valid UTF-8, and ErrTooLarge when the message
// would exceed MaxMessageBytes.
func (c *Codec) EncodeEnvelope(e *Envelope) ([]byte, error) {
	return c.AppendEnvelope(nil, e)
}

// AppendEnvelope is EncodeEnvelope appending to dst; on error dst is
// returned unchanged.
func (c *Codec) AppendEnvelope(dst []byte, e *Envelope) ([]byte, error) {
	if err := e.check(); err != nil {
		return dst, fmt.Errorf("shoal/codec: encode envelope: %w", err)
	}
	size := e.size()
	if size > c.limits.MaxMessageBytes {
		return dst, fmt.Errorf("shoal/codec: encode envelope %q: %w: %d bytes, limit %d", e.Name, ErrTooLarge, size, c.limits.MaxMessageBytes)
	}
	if cap(dst)-len(dst) < size {
		grown := make([]byte, len(dst), len(dst)+size)
		copy(grown, dst)
		dst = grown
	}
	return appendEnvelope(dst, e), nil
}

// DecodeEnvelope decodes a single-envelope message. The version is read
// and checked before any other field is interpreted: an unknown version is
// an error wrapping ErrVersion that lists the versions this build reads.
// Map keys this build does not know are skipped; fields left out decode as
// their zero value; Version and Kind are required. Other failures wrap
// ErrTooLarge or ErrMalformed (a field of the wrong CBOR type also wraps
// ErrTypeMismatch), and name the envelope's value where it is known.
//
// The returned Payload aliases data (see Envelope.Payload); the strings do
// not.
func (c *Codec) DecodeEnvelope(data []byte) (Envelope, error) {
	if err := c.wellformed("decode envelope", data); err != nil {
		return Envelope{}, err
	}
	r := reader{data: data}
	e, err := decodeEnvelope(&r, nil)
	if err != nil {
		return Envelope{}, fmt.Errorf("shoal/codec: decode envelope: %w", err)
	}
	if r.off != len(data) {
		return Envelope{}, fmt.Errorf("shoal/codec: decode envelope %q: %w", e.Name, malformed(r.off, "%d bytes of trailing data", len(data)-r.off))
	}
	return e, nil
}

// decodeEnvelope reads one envelope map from r. A first pass records where
// each known field's value starts, rejecting duplicate and non-integer
// keys and skipping unknown ones; the version is then checked before the
// other fields are read.
func decodeEnvelope(r *reader, prev *Envelope) (Envelope, error) {
	var e Envelope
	h, err := r.head()
	if err != nil {
		return e, err
	}
	if h.major != majorMap {
		return e, malformed(h.at, "envelope must be a map, got %s", majorName(h.major))
	}
	pairs, err := r.count(h, 2)
	if err != nil {
		return e, err
	}
	var (
		at       [keyCount]int // value offset of each known key; 0 = absent
		seen     uint64        // keys 0..63 seen so far
		seenHigh []uint64      // keys >= 64 seen so far (rare: future fields)
	)
	for range pairs {
		kh, err := r.head()
		if err != nil {
			return e, err
		}
		if kh.major != majorUint {
			return e, malformed(kh.at, "envelope key must be an unsigned integer, got %s", majorName(kh.major))
		}
		k := kh.arg
		if k < 64 {
			if seen&(1<<k) != 0 {
				return e, malformed(kh.at, "duplicate envelope key %d", k)
			}
			seen |= 1 << k
		} else {
			for _, s := range seenHigh {
				if s == k {
					return e, malformed(kh.at, "duplicate envelope key %d", k)
				}
			}
			seenHigh = append(seenHigh, k)
		}
		if k > 0 && k < keyCount {
			at[k] = r.off
		}
		if err := r.skip(); err != nil {
			return e, err
		}
	}
	end := r.off
	field := func(k int) *reader {
		return &reader{data: r.data, off: at[k]}
	}
	if at[keyVersion] == 0 {
		return e, malformed(h.at, "envelope has no version")
	}
	v, err := field(keyVersion).uint()
	if err != nil {
		return e, fieldError(keyVersion, err)
	}
	if err := checkVersion(v); err != nil {
		return e, err
	}
	e.Version = uint16(v)
	// The three strings are read as aliased bytes first and then copied
	// into one allocation; the name first, so later errors can say which
	// value they concern. A type or origin equal to prev's (the batch's
	// previous envelope, if any) is prev's string.
	var texts [3][]byte
	for i, k := range [...]int{keyName, keyType, keyNode} {
		if at[k] == 0 {
			continue
		}
		if texts[i], err = field(k).textBytes(); err != nil {
			if i == 0 {
				return e, fieldError(k, err)
			}
			return e, namedFieldError(string(texts[0]), k, err)
		}
	}
	e.Name, e.Type, e.Origin.Node = joinStrings(texts, prev)
	if at[keyKind] == 0 {
		return e, fmt.Errorf("envelope %q: %w", e.Name, malformed(h.at, "envelope has no kind"))
	}
	kind, err := field(keyKind).uint()
	if err == nil && (kind == 0 || kind > 255) {
		err = malformed(at[keyKind], "kind %d is outside [1, 255]", kind)
	}
	if err != nil {
		return e, namedFieldError(e.Name, keyKind, err)
	}
	e.Kind = Kind(kind)
	for _, k := range [...]int{keyIncarnation, keySeq} {
		if at[k] == 0 {
			continue
		}
		n, err := field(k).uint()
		if err != nil {
			return e, namedFieldError(e.Name, k, err)
		}
		if k == keyIncarnation {
			e.Origin.Incarnation = n
		} else {
			e.Seq = n
		}
	}
	if at[keyPayload] != 0 {
		f := field(keyPayload)
		ph, err := f.expect(majorBytes)
		if err == nil {
			e.Payload, err = f.payload(ph)
		}
		if err != nil {
			return e, namedFieldError(e.Name, keyPayload, err)
		}
		if len(e.Payload) == 0 {
			e.Payload = nil
		}
	}
	r.off = end
	return e, nil
}

// joinStrings copies three byte slices (name, type, origin node) into
// strings backed by a single allocation. A type or node equal to prev's is
// prev's string, copied from nowhere: the envelopes of a batch (a burst
// holds thousands) mostly share both, and copying them was half of what a
// burst's receiver allocated for envelopes (BenchmarkBurst5000Values).
func joinStrings(b [3][]byte, prev *Envelope) (string, string, string) {
	var out [3]string
	if prev != nil {
		for i, p := range [...]string{1: prev.Type, 2: prev.Origin.Node} {
			if i > 0 && b[i] != nil && string(b[i]) == p {
				out[i], b[i] = p, nil
			}
		}
	}
	var sb strings.Builder
	sb.Grow(len(b[0]) + len(b[1]) + len(b[2]))
	for _, x := range b {
		sb.Write(x)
	}
	all := sb.String()
	at := 0
	for i, x := range b {
		if x != nil {
			out[i] = all[at : at+len(x)]
			at += len(x)
		}
	}
	return out[0], out[1], out[2]
}

// fieldError wraps a failure to read envelope field k.
func fieldError(k int, err error) error {
	if errors.Is(err, ErrMalformed) {
		return fmt.Errorf("envelope field %d (%s): %w", k, keyNames[k], err)
	}
	return fmt.Errorf("%w: envelope field %d (%s): %w", ErrMalformed, k, keyNames[k], err)
}

// namedFieldError is fieldError for an envelope whose value name is known.
func namedFieldError(name string, k int, err error) error {
	return fmt.Errorf("envelope %q: %w", name, fieldError(k, err))
}

// UnmarshalPayload decodes e.Payload into the value v points to, as
// Unmarshal does, and names the envelope's value, type tag and origin in
// any error, so a log line says which shared value a peer sent wrong.
func (c *Codec) UnmarshalPayload(e *Envelope, v any) error {
	if err := c.Unmarshal(e.Payload, v); err != nil {
		return fmt.Errorf("value %q (type %q, %s from %s): %w", e.Name, e.Type, e.Kind, e.Origin, err)
	}
	return nil
}
