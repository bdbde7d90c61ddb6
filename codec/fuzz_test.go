package codec

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// Fuzz targets for every decoder that reads bytes from the network. Each
// checks that decoding never panics, that every error wraps one of the
// package's sentinels, and that whatever decodes re-encodes to a fixed
// point (encode(decode(encode(decode(x)))) == encode(decode(x))).
//
// Seeds live in testdata/fuzz/<Name>/; run one target with
//
//	go test -run '^$' -fuzz '^FuzzDecodeEnvelope$' -fuzztime 3m ./codec/

// checkSentinel fails unless err wraps one of the decode sentinels.
func checkSentinel(t *testing.T, err error) {
	t.Helper()
	for _, s := range []error{ErrVersion, ErrTooLarge, ErrMalformed, ErrUnregisteredType, ErrTypeMismatch} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no sentinel: %v", err)
}

// fuzzCodec keeps limits small so the fuzzer reaches them.
func fuzzCodec(t testing.TB) *Codec {
	c, err := New(Limits{MaxMessageBytes: 1 << 16, MaxNestedLevels: 8, MaxArrayElements: 64, MaxMapPairs: 64})
	noErr(t, err)
	return c
}

func addEnvelopeSeeds(f *testing.F) {
	c := Default()
	for _, e := range []Envelope{sampleEnvelope(), {Kind: KindState}, {Kind: 255, Name: "ü", Seq: 1 << 40}} {
		data, err := c.EncodeEnvelope(&e)
		noErr(f, err)
		f.Add(data)
	}
	f.Add([]byte{0xa2, 0x01, 0x02, 0x02, 0x01})                                              // version 2
	f.Add([]byte{0xa3, 0x01, 0x01, 0x02, 0x01, 0x18, 99, 0x82, 0x01, 0xa1, 0x61, 'x', 0x40}) // unknown key
}

func FuzzDecodeEnvelope(f *testing.F) {
	addEnvelopeSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := fuzzCodec(t)
		e, err := c.DecodeEnvelope(data)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		if e.Version != Version || e.Kind == 0 {
			t.Fatalf("decoded envelope breaks the rules: %+v", e)
		}
		enc, err := c.EncodeEnvelope(&e)
		noErr(t, err)
		e2, err := c.DecodeEnvelope(enc)
		noErr(t, err)
		equal(t, e2, e, "re-decoded envelope")
		enc2, err := c.EncodeEnvelope(&e2)
		noErr(t, err)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point: %x vs %x", enc, enc2)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	c := Default()
	for _, b := range [][]Envelope{{}, {sampleEnvelope()}, {sampleEnvelope(), {Kind: KindBroadcast, Payload: []byte{1}}}} {
		data, err := c.EncodeBatch(b)
		noErr(f, err)
		f.Add(data)
	}
	f.Add([]byte{0x82, 0xa2, 0x01, 0x01, 0x02, 0x01, 0xa2, 0x01, 0x02, 0x02, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := fuzzCodec(t)
		envs, err := c.DecodeBatch(data)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		enc, err := c.EncodeBatch(envs)
		noErr(t, err)
		envs2, err := c.DecodeBatch(enc)
		noErr(t, err)
		equal(t, envs2, envs, "re-decoded batch")
		enc2, err := c.EncodeBatch(envs2)
		noErr(t, err)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point: %x vs %x", enc, enc2)
		}
	})
}

func fuzzRegistry(t testing.TB) *Registry {
	reg := NewRegistry()
	noErr(t, reg.Register("test.point", point{}))
	noErr(t, reg.Register("test.gauge", &gauge{}))
	return reg
}

func FuzzDecodeAny(f *testing.F) {
	c, reg := Default(), fuzzRegistry(f)
	for _, v := range []any{
		int64(-5), uint8(7), 1.5, float32(2), "s", []byte{1}, time.Unix(5, 6), time.Second, nil,
		[]int{1, 2}, map[string]string{"a": "b"}, []any{int64(1), "x", []any{nil}},
		map[string]any{"k": map[string]any{"p": point{X: 1}}}, &gauge{Name: "g"},
	} {
		data, err := c.EncodeAny(reg, v)
		noErr(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, reg := fuzzCodec(t), fuzzRegistry(t)
		v, err := c.DecodeAny(reg, data)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		// Re-encoding may nest deeper than the input's wire form only
		// through registered types written by fxamacker/cbor, and may
		// grow (floats keep their Go width), so use generous limits.
		enc, err := Default().EncodeAny(reg, v)
		noErr(t, err)
		v2, err := Default().DecodeAny(reg, enc)
		noErr(t, err)
		enc2, err := Default().EncodeAny(reg, v2)
		noErr(t, err)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point: %x vs %x", enc, enc2)
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	c := Default()
	for _, g := range []gauge{
		{},
		{Name: "g", Slots: map[string]int64{"a": 1, "b": -1}, History: []float64{0.5}, At: time.Unix(1, 2)},
		{Extra: map[string]any{"x": []any{int64(1), "y", true, nil, 1.5}}},
	} {
		data, err := c.Marshal(g)
		noErr(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := fuzzCodec(t)
		var g gauge
		if err := c.Unmarshal(data, &g); err != nil {
			checkSentinel(t, err)
			return
		}
		enc, err := Default().Marshal(g)
		noErr(t, err)
		var g2 gauge
		noErr(t, Default().Unmarshal(enc, &g2))
		enc2, err := Default().Marshal(g2)
		noErr(t, err)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point: %x vs %x", enc, enc2)
		}
	})
}
