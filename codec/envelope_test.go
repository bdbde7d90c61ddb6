package codec

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shoal-go/shoal/crdt"
)

func sampleEnvelope() Envelope {
	return Envelope{
		Version: Version,
		Kind:    KindDelta,
		Name:    "hits",
		Type:    "*crdt.GCounter",
		Origin:  crdt.Replica{Node: "node-a", Incarnation: 1732550400123456789},
		Seq:     42,
		Payload: []byte{0xa1, 0x01, 0x02},
	}
}

// envelopeMirror is the documented wire layout as a struct for
// fxamacker/cbor, an independent check of the hand-written codec.
type envelopeMirror struct {
	Version     uint16 `cbor:"1,keyasint"`
	Kind        uint8  `cbor:"2,keyasint"`
	Name        string `cbor:"3,keyasint,omitempty"`
	Type        string `cbor:"4,keyasint,omitempty"`
	Node        string `cbor:"5,keyasint,omitempty"`
	Incarnation uint64 `cbor:"6,keyasint,omitempty"`
	Seq         uint64 `cbor:"7,keyasint,omitempty"`
	Payload     []byte `cbor:"8,keyasint,omitempty"`
}

func mirror(e Envelope) envelopeMirror {
	return envelopeMirror{Version, uint8(e.Kind), e.Name, e.Type, e.Origin.Node, e.Origin.Incarnation, e.Seq, e.Payload}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	c := Default()
	long := strings.Repeat("x", 300)
	cases := map[string]Envelope{
		"full":             sampleEnvelope(),
		"minimal":          {Version: Version, Kind: KindState},
		"unnamed kind":     {Version: Version, Kind: 200, Name: "future"},
		"kind 23":          {Version: Version, Kind: 23},
		"kind 24":          {Version: Version, Kind: 24},
		"max kind":         {Version: Version, Kind: 255},
		"long strings":     {Version: Version, Kind: KindBroadcast, Name: long, Type: long, Origin: crdt.Replica{Node: long}},
		"unicode":          {Version: Version, Kind: KindBroadcast, Name: "zähler/ü", Origin: crdt.Replica{Node: "knoten-ß"}},
		"max numbers":      {Version: Version, Kind: KindDelta, Origin: crdt.Replica{Node: "n", Incarnation: ^uint64(0)}, Seq: ^uint64(0)},
		"big payload":      {Version: Version, Kind: KindState, Payload: bytes.Repeat([]byte{7}, 70000)},
		"incarnation only": {Version: Version, Kind: KindState, Origin: crdt.Replica{Incarnation: 5}},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := c.EncodeEnvelope(&want)
			noErr(t, err)
			equal(t, Detect(data), FormEnvelope, "Detect")
			equal(t, len(data), want.size(), "size() must predict the encoding")
			got, err := c.DecodeEnvelope(data)
			noErr(t, err)
			equal(t, got, want, "decoded envelope")

			// fxamacker/cbor agrees on the layout, both ways: it reads
			// the fields back, and writes the same bytes from a mirror.
			var m envelopeMirror
			noErr(t, c.Unmarshal(data, &m))
			equal(t, m, mirror(want), "library view of the envelope")
			viaLibrary, err := c.Marshal(mirror(want))
			noErr(t, err)
			equal(t, viaLibrary, data, "fxamacker/cbor encoding of the mirror")

			again, err := c.EncodeEnvelope(&got)
			noErr(t, err)
			equal(t, again, data, "encoding must be deterministic")
		})
	}
}

func TestEnvelopeWireLayout(t *testing.T) {
	e := Envelope{Kind: KindDelta, Name: "a", Seq: 1, Payload: []byte{0xf6}}
	data, err := Default().EncodeEnvelope(&e)
	noErr(t, err)
	want := []byte{
		0xa5,       // map(5)
		0x01, 0x01, // 1: version 1
		0x02, 0x01, // 2: kind delta
		0x03, 0x61, 'a', // 3: name "a"
		0x07, 0x01, // 7: seq 1
		0x08, 0x41, 0xf6, // 8: payload h'f6'
	}
	equal(t, data, want, "wire bytes")
}

func TestEncodeEnvelopeIgnoresVersionField(t *testing.T) {
	e := Envelope{Version: 9, Kind: KindState}
	data, err := Default().EncodeEnvelope(&e)
	noErr(t, err)
	got, err := Default().DecodeEnvelope(data)
	noErr(t, err)
	equal(t, got.Version, uint16(Version), "decoded version")
	equal(t, e.Version, uint16(9), "the caller's envelope is not modified")
}

func TestDecodeEnvelopePayloadAliasesInput(t *testing.T) {
	c := Default()
	e := sampleEnvelope()
	data, err := c.EncodeEnvelope(&e)
	noErr(t, err)
	got, err := c.DecodeEnvelope(data)
	noErr(t, err)
	data[len(data)-1] = 0x99
	equal(t, got.Payload[len(got.Payload)-1], byte(0x99), "payload aliases the input, as documented")
	equal(t, cap(got.Payload), len(got.Payload), "appending to the payload must not overwrite the input")
}

func TestDecodeEnvelopeIgnoresUnknownKeys(t *testing.T) {
	// {1: 1, 2: 2, 3: "n", 9: [1, {"x": h'00'}], 99: "future", 1000: null, 0: 0}
	data := []byte{
		0xa7,
		0x01, 0x01,
		0x02, 0x02,
		0x03, 0x61, 'n',
		0x09, 0x82, 0x01, 0xa1, 0x61, 'x', 0x41, 0x00,
		0x18, 99, 0x66, 'f', 'u', 't', 'u', 'r', 'e',
		0x19, 0x03, 0xe8, 0xf6,
		0x00, 0x00,
	}
	got, err := Default().DecodeEnvelope(data)
	noErr(t, err)
	equal(t, got, Envelope{Version: 1, Kind: KindState, Name: "n"}, "decoded envelope")
}

func TestDecodeEnvelopeAcceptsAnyKeyOrderAndExplicitZeros(t *testing.T) {
	// {8: h'', 2: 1, 7: 0, 1: 1}
	data := []byte{0xa4, 0x08, 0x40, 0x02, 0x01, 0x07, 0x00, 0x01, 0x01}
	got, err := Default().DecodeEnvelope(data)
	noErr(t, err)
	equal(t, got, Envelope{Version: 1, Kind: KindDelta}, "decoded envelope")
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	full, err := Default().EncodeEnvelope(&Envelope{Kind: KindDelta, Name: "hits", Payload: []byte{1, 2, 3}})
	noErr(t, err)

	cases := []struct {
		name   string
		codec  *Codec
		data   []byte
		target error
		text   string
	}{
		{"empty", nil, nil, ErrMalformed, "empty input"},
		{"not a map", nil, []byte{0x82, 0x01, 0x02}, ErrMalformed, "must be a map"},
		{"truncated", nil, full[:len(full)-1], ErrMalformed, "truncated"},
		{"trailing garbage", nil, append(append([]byte{}, full...), 0x00), ErrMalformed, "extraneous"},
		{"no version", nil, []byte{0xa1, 0x02, 0x01}, ErrMalformed, "no version"},
		{"no kind", nil, []byte{0xa2, 0x01, 0x01, 0x03, 0x61, 'q'}, ErrMalformed, `envelope "q"`},
		{"kind zero", nil, []byte{0xa2, 0x01, 0x01, 0x02, 0x00}, ErrMalformed, "kind 0"},
		{"kind too big", nil, []byte{0xa2, 0x01, 0x01, 0x02, 0x19, 0x01, 0x00}, ErrMalformed, "kind 256"},
		{"unknown version", nil, []byte{0xa2, 0x01, 0x02, 0x02, 0x01}, ErrVersion, "version 2 (this build reads [1])"},
		{"huge version", nil, []byte{0xa2, 0x01, 0x1a, 0x00, 0x01, 0x00, 0x01, 0x02, 0x01}, ErrVersion, "65537"},
		{"version wrong type", nil, []byte{0xa2, 0x01, 0x61, '1', 0x02, 0x01}, ErrTypeMismatch, "field 1 (version)"},
		{"name wrong type", nil, []byte{0xa3, 0x01, 0x01, 0x02, 0x01, 0x03, 0x05}, ErrTypeMismatch, "field 3 (name)"},
		{"payload wrong type", nil, []byte{0xa4, 0x01, 0x01, 0x02, 0x01, 0x03, 0x61, 'v', 0x08, 0x61, 'x'}, ErrTypeMismatch, `envelope "v": shoal/codec: malformed message: envelope field 8 (payload)`},
		{"seq negative", nil, []byte{0xa3, 0x01, 0x01, 0x02, 0x01, 0x07, 0x20}, ErrMalformed, "field 7 (seq)"},
		{"duplicate key", nil, []byte{0xa3, 0x01, 0x01, 0x02, 0x01, 0x02, 0x02}, ErrMalformed, "duplicate envelope key 2"},
		{"duplicate unknown key", nil, []byte{0xa4, 0x01, 0x01, 0x02, 0x01, 0x18, 0x64, 0x00, 0x18, 0x64, 0x00}, ErrMalformed, "duplicate envelope key 100"},
		{"text key", nil, []byte{0xa2, 0x01, 0x01, 0x61, 'k', 0x01}, ErrMalformed, "key must be an unsigned integer"},
		{"invalid utf-8 name", nil, []byte{0xa3, 0x01, 0x01, 0x02, 0x01, 0x03, 0x61, 0xff}, ErrMalformed, "UTF-8"},
		{"indefinite map", nil, []byte{0xbf, 0x01, 0x01, 0x02, 0x01, 0xff}, ErrMalformed, "indefinite"},
		{"tag", nil, []byte{0xa2, 0x01, 0x01, 0x02, 0xc1, 0x01}, ErrMalformed, "tag"},
		{"oversized", small, make([]byte, 65), ErrTooLarge, "65 bytes, limit 64"},
		{"too deep", small, []byte{0xa3, 0x01, 0x01, 0x02, 0x01, 0x09, 0x81, 0x81, 0x81, 0x81, 0x00}, ErrTooLarge, "nested level"},
		{"too many pairs", small, append([]byte{0xb1}, bytes.Repeat([]byte{0x18, 0x64, 0x00}, 17)...), ErrTooLarge, "key-value pairs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.codec
			if c == nil {
				c = Default()
			}
			got, err := c.DecodeEnvelope(tc.data)
			wantErr(t, err, tc.target, tc.text)
			equal(t, got, Envelope{}, "envelope after error")
		})
	}
}

func TestEncodeEnvelopeRejects(t *testing.T) {
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	cases := []struct {
		name   string
		codec  *Codec
		env    Envelope
		target error
		text   string
	}{
		{"kind zero", Default(), Envelope{Name: "x"}, ErrMalformed, `envelope "x": kind 0`},
		{"bad name", Default(), Envelope{Kind: 1, Name: "\xff"}, ErrMalformed, "name"},
		{"bad type", Default(), Envelope{Kind: 1, Type: "\xff"}, ErrMalformed, "type"},
		{"bad node", Default(), Envelope{Kind: 1, Origin: crdt.Replica{Node: "\xff"}}, ErrMalformed, "origin node"},
		{"too large", small, Envelope{Kind: 1, Name: "big", Payload: make([]byte, 60)}, ErrTooLarge, `"big"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte{0xee}
			out, err := tc.codec.AppendEnvelope(dst, &tc.env)
			wantErr(t, err, tc.target, tc.text)
			equal(t, out, []byte{0xee}, "dst after error")
		})
	}
}

func TestAppendEnvelopeKeepsPrefix(t *testing.T) {
	e := sampleEnvelope()
	single, err := Default().EncodeEnvelope(&e)
	noErr(t, err)
	out, err := Default().AppendEnvelope([]byte("prefix"), &e)
	noErr(t, err)
	equal(t, out, append([]byte("prefix"), single...), "appended envelope")
}

func BenchmarkEnvelopeRoundTrip(b *testing.B) {
	c := Default()
	e := sampleEnvelope()
	e.Payload = bytes.Repeat([]byte{0x5a}, 100)
	b.Run("alloc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, err := c.EncodeEnvelope(&e)
			if err != nil {
				b.Fatal(err)
			}
			got, err := c.DecodeEnvelope(data)
			if err != nil || len(got.Payload) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			data, err := c.AppendEnvelope(buf[:0], &e)
			if err != nil {
				b.Fatal(err)
			}
			got, err := c.DecodeEnvelope(data)
			if err != nil || len(got.Payload) != 100 {
				b.Fatal(err)
			}
		}
	})
}

func TestUnmarshalPayloadNamesValue(t *testing.T) {
	c := Default()
	payload, err := c.Marshal(map[string]int64{"a": 1})
	noErr(t, err)
	e := Envelope{Kind: KindDelta, Name: "hits", Type: "*crdt.GCounter", Origin: crdt.Replica{Node: "n1", Incarnation: 7}, Payload: payload}
	var ok map[string]int64
	noErr(t, c.UnmarshalPayload(&e, &ok))
	equal(t, ok, map[string]int64{"a": 1}, "payload")
	var wrong []string
	wantErr(t, c.UnmarshalPayload(&e, &wrong), ErrTypeMismatch, `value "hits" (type "*crdt.GCounter", delta from n1#7): shoal/codec: unmarshal into *[]string`)
}
