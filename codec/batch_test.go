package codec

import (
	"bytes"
	"fmt"
	"testing"
	"unsafe"

	"github.com/shoal-go/shoal/crdt"
)

func TestBatchRoundTrip(t *testing.T) {
	c := Default()
	cases := map[string][]Envelope{
		"empty": {},
		"one":   {sampleEnvelope()},
		"mixed": {
			sampleEnvelope(),
			{Version: Version, Kind: KindState, Name: "limits", Payload: bytes.Repeat([]byte{0xf6}, 300)},
			{Version: Version, Kind: 77, Origin: crdt.Replica{Node: "b", Incarnation: 2}},
		},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := c.EncodeBatch(want)
			noErr(t, err)
			equal(t, Detect(data), FormBatch, "Detect")
			got, err := c.DecodeBatch(data)
			noErr(t, err)
			if got == nil {
				t.Fatal("DecodeBatch returned a nil slice without error")
			}
			equal(t, got, want, "decoded batch")
			again, err := c.EncodeBatch(got)
			noErr(t, err)
			equal(t, again, data, "encoding must be deterministic")
		})
	}
}

func TestBatchIsArrayOfEnvelopes(t *testing.T) {
	c := Default()
	a, b := sampleEnvelope(), Envelope{Kind: KindBroadcast, Name: "x"}
	ea, err := c.EncodeEnvelope(&a)
	noErr(t, err)
	eb, err := c.EncodeEnvelope(&b)
	noErr(t, err)
	batch, err := c.EncodeBatch([]Envelope{a, b})
	noErr(t, err)
	equal(t, batch, append(append([]byte{0x82}, ea...), eb...), "batch bytes")
}

func TestDecodeBatchRejects(t *testing.T) {
	c := Default()
	small, err := New(Limits{MaxMessageBytes: 4096, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	good, err := c.EncodeBatch([]Envelope{sampleEnvelope(), sampleEnvelope()})
	noErr(t, err)
	v2 := []byte{0x82, 0xa2, 0x01, 0x01, 0x02, 0x01, 0xa2, 0x01, 0x02, 0x02, 0x01}
	many := append([]byte{0x91}, bytes.Repeat([]byte{0xa2, 0x01, 0x01, 0x02, 0x01}, 17)...)
	cases := []struct {
		name   string
		c      *Codec
		data   []byte
		target error
		text   string
	}{
		{"empty", c, nil, ErrMalformed, "empty input"},
		{"single envelope", c, []byte{0xa2, 0x01, 0x01, 0x02, 0x01}, ErrMalformed, "batch must be an array"},
		{"truncated", c, good[:len(good)-2], ErrMalformed, "truncated"},
		{"trailing garbage", c, append(append([]byte{}, good...), 0x00), ErrMalformed, "extraneous"},
		{"element not a map", c, []byte{0x81, 0x85, 1, 2, 3, 4, 5}, ErrMalformed, "envelope 0 of 1: shoal/codec: malformed message: at byte 1: envelope must be a map, got array"},
		{"count beyond smallest envelopes", c, []byte{0x82, 0, 0}, ErrMalformed, "array of 2 entries is longer than the input"},
		{"unknown version in second", c, v2, ErrVersion, "envelope 1 of 2: shoal/codec: unsupported protocol version 2 (this build reads [1])"},
		{"too many envelopes", small, many, ErrTooLarge, "number of elements 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.DecodeBatch(tc.data)
			wantErr(t, err, tc.target, tc.text)
			equal(t, got, []Envelope(nil), "result after error")
			// DecodeBatchEach refuses the same input with the same error.
			err = tc.c.DecodeBatchEach(tc.data, func(*Envelope) {})
			wantErr(t, err, tc.target, tc.text)
		})
	}
}

// DecodeBatchEach hands over what DecodeBatch returns, in order, and on a
// bad envelope stops there, having handed over those before it.
func TestDecodeBatchEach(t *testing.T) {
	c := Default()
	want := []Envelope{
		sampleEnvelope(),
		{Version: Version, Kind: KindState, Name: "limits", Payload: bytes.Repeat([]byte{0xf6}, 300)},
		{Version: Version, Kind: 77, Origin: crdt.Replica{Node: "b", Incarnation: 2}},
	}
	data, err := c.EncodeBatch(want)
	noErr(t, err)
	var got []Envelope
	noErr(t, c.DecodeBatchEach(data, func(e *Envelope) { got = append(got, *e) }))
	equal(t, got, want, "envelopes handed over")

	v2 := []byte{0x82, 0xa2, 0x01, 0x01, 0x02, 0x01, 0xa2, 0x01, 0x02, 0x02, 0x01}
	got = nil
	err = c.DecodeBatchEach(v2, func(e *Envelope) { got = append(got, *e) })
	wantErr(t, err, ErrVersion, "envelope 1 of 2")
	equal(t, got, []Envelope{{Version: 1, Kind: 1}}, "the envelope before the bad one")
}

func TestEncodeBatchRejects(t *testing.T) {
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	_, err = Default().EncodeBatch([]Envelope{sampleEnvelope(), {Name: "bad"}})
	wantErr(t, err, ErrMalformed, `envelope 1: shoal/codec: malformed message: envelope "bad": kind 0`)
	_, err = small.EncodeBatch(make([]Envelope, 17))
	wantErr(t, err, ErrTooLarge, "17 envelopes, limit 16")
	_, err = small.EncodeBatch([]Envelope{{Kind: 1, Payload: make([]byte, 40)}, {Kind: 1, Payload: make([]byte, 40)}})
	wantErr(t, err, ErrTooLarge, "limit 64")
	out, err := small.AppendBatch([]byte{1}, []Envelope{{Kind: 1, Payload: make([]byte, 70)}})
	wantErr(t, err, ErrTooLarge, "limit 64")
	equal(t, out, []byte{1}, "dst after error")
}

func TestDetect(t *testing.T) {
	cases := []struct {
		data []byte
		want Form
	}{
		{nil, FormUnknown},
		{[]byte{0xa0}, FormEnvelope},
		{[]byte{0xbb}, FormEnvelope},
		{[]byte{0xbf}, FormUnknown}, // indefinite-length map: not this format
		{[]byte{0x80}, FormBatch},
		{[]byte{0x9b}, FormBatch},
		{[]byte{0x9f}, FormUnknown},
		{[]byte{0x00}, FormUnknown},
		{[]byte("GET /"), FormUnknown},
	}
	for _, tc := range cases {
		equal(t, Detect(tc.data), tc.want, "Detect")
	}
	equal(t, FormEnvelope.String()+FormBatch.String()+FormUnknown.String(), "envelopebatchunknown", "Form.String")
}

func BenchmarkDecodeBatch(b *testing.B) {
	c := Default()
	envs := make([]Envelope, 16)
	for i := range envs {
		envs[i] = sampleEnvelope()
		envs[i].Payload = bytes.Repeat([]byte{0x5a}, 64)
	}
	data, err := c.EncodeBatch(envs)
	noErr(b, err)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		got, err := c.DecodeBatch(data)
		if err != nil || len(got) != 16 {
			b.Fatal(err)
		}
	}
}

// A batch packed from envelopes encoded once is byte for byte the batch
// EncodeBatch writes, and BatchSize predicts its length, for batches whose
// array head takes one, two and three bytes.
func TestAppendEncodedBatchEqualsEncodeBatch(t *testing.T) {
	c := Default()
	for _, n := range []int{0, 1, 23, 24, 255, 256, 300} {
		envs := make([]Envelope, n)
		encoded := make([][]byte, n)
		total := 0
		for i := range envs {
			envs[i] = Envelope{Kind: KindDelta, Name: string(rune('a' + i%26)), Payload: bytes.Repeat([]byte{byte(i)}, i%40)}
			b, err := c.EncodeEnvelope(&envs[i])
			noErr(t, err)
			encoded[i] = b
			total += len(b)
		}
		want, err := c.EncodeBatch(envs)
		noErr(t, err)
		got, err := c.AppendEncodedBatch([]byte("x"), encoded)
		noErr(t, err)
		equal(t, got[1:], want, "packed batch")
		equal(t, BatchSize(n, total), len(want), "BatchSize")
	}
}

func TestAppendEncodedBatchRejects(t *testing.T) {
	c := Default()
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	env := sampleEnvelope()
	one, err := c.EncodeEnvelope(&env)
	noErr(t, err)
	batch, err := c.EncodeBatch([]Envelope{env})
	noErr(t, err)
	cases := []struct {
		name   string
		c      *Codec
		envs   [][]byte
		target error
		text   string
	}{
		{"empty element", c, [][]byte{one, nil}, ErrMalformed, "element 1 is not an encoded envelope"},
		{"a batch as element", c, [][]byte{batch}, ErrMalformed, "element 0 is not an encoded envelope"},
		{"too large", small, [][]byte{one, one}, ErrTooLarge, "limit 64"},
		{"too many", small, make([][]byte, 17), ErrTooLarge, "17 envelopes, limit 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := tc.c.AppendEncodedBatch(dst, tc.envs)
			wantErr(t, err, tc.target, tc.text)
			equal(t, got, dst, "dst after error")
		})
	}
}

// The envelopes of a batch share their type and origin strings with the
// envelope before them when they are equal, and only then: each decoded
// field still reads what was sent.
func TestDecodeBatchSharesRepeatedStrings(t *testing.T) {
	c := Default()
	a := crdt.Replica{Node: "node-a", Incarnation: 1}
	b := crdt.Replica{Node: "node-b", Incarnation: 1}
	want := []Envelope{
		{Version: Version, Kind: KindDelta, Name: "v1", Type: "*crdt.PNCounter", Origin: a, Payload: []byte{0xa0}},
		{Version: Version, Kind: KindDelta, Name: "v2", Type: "*crdt.PNCounter", Origin: a, Payload: []byte{0xa0}},
		{Version: Version, Kind: KindDelta, Name: "v3", Type: "*crdt.ORSet", Origin: a, Payload: []byte{0xa0}},
		{Version: Version, Kind: KindDelta, Name: "v4", Type: "*crdt.ORSet", Origin: b, Payload: []byte{0xa0}},
		{Version: Version, Kind: KindDelta, Name: "v5", Origin: b},
		{Version: Version, Kind: KindDelta, Name: "v6", Type: "*crdt.ORSet", Origin: b},
	}
	data, err := c.EncodeBatch(want)
	noErr(t, err)
	same := func(x, y string) bool { return len(x) > 0 && unsafe.StringData(x) == unsafe.StringData(y) }
	check := func(how string, got []Envelope) {
		t.Helper()
		equal(t, got, want, how)
		for i, share := range []struct{ typ, node bool }{{}, {true, true}, {false, true}, {true, false}, {false, true}, {false, true}} {
			if i == 0 {
				continue
			}
			if same(got[i].Type, got[i-1].Type) != share.typ || same(got[i].Origin.Node, got[i-1].Origin.Node) != share.node {
				t.Errorf("%s: envelope %d shares type %v, node %v with the one before; want %v, %v", how, i,
					same(got[i].Type, got[i-1].Type), same(got[i].Origin.Node, got[i-1].Origin.Node), share.typ, share.node)
			}
		}
	}
	got, err := c.DecodeBatch(data)
	noErr(t, err)
	check("DecodeBatch", got)
	got = nil
	noErr(t, c.DecodeBatchEach(data, func(e *Envelope) { got = append(got, *e) }))
	check("DecodeBatchEach", got)

	// A batch of one origin's deltas of one type allocates one string (the
	// name) per envelope.
	many := make([]Envelope, 100)
	for i := range many {
		many[i] = want[0]
		many[i].Name = fmt.Sprint("value-", i)
	}
	data, err = c.EncodeBatch(many)
	noErr(t, err)
	allocs := testing.AllocsPerRun(20, func() {
		if err := c.DecodeBatchEach(data, func(*Envelope) {}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > float64(len(many))+2 {
		t.Errorf("DecodeBatchEach of %d envelopes allocates %v times, want at most %d", len(many), allocs, len(many)+2)
	}
}
