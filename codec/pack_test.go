package codec

import (
	"bytes"
	"testing"
)

type packEntry struct {
	Name    string
	Payload []byte
}

func encodePack(t testing.TB, entries []packEntry) []byte {
	t.Helper()
	total := 0
	for _, e := range entries {
		total += PackEntrySize(e.Name, e.Payload)
	}
	dst := AppendPackHead(nil, len(entries))
	var err error
	for _, e := range entries {
		dst, err = AppendPackEntry(dst, e.Name, e.Payload)
		noErr(t, err)
	}
	equal(t, len(dst), PackSize(len(entries), total), "PackSize")
	return dst
}

func decodePack(c *Codec, data []byte) ([]packEntry, int, error) {
	var got []packEntry
	n, err := c.DecodePackEach(data, func(name, payload []byte) {
		got = append(got, packEntry{string(name), append([]byte{}, payload...)})
	})
	return got, n, err
}

func TestPackRoundTrip(t *testing.T) {
	long := make([]packEntry, 300)
	for i := range long {
		long[i] = packEntry{Name: string(rune('a'+i%26)) + "-value", Payload: bytes.Repeat([]byte{byte(i)}, i%40)}
	}
	cases := map[string][]packEntry{
		"empty":      nil,
		"one":        {{"burst-1", []byte{0xa1, 0x01, 0xa0}}},
		"empty name": {{"", []byte{0xa0}}, {"x", []byte{}}},
		"300":        long,
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			data := encodePack(t, want)
			got, n, err := decodePack(Default(), data)
			noErr(t, err)
			equal(t, n, len(want), "entries")
			for i := range got {
				if len(got[i].Payload) == 0 {
					got[i].Payload = nil
				}
				if len(want[i].Payload) == 0 {
					want[i].Payload = nil
				}
			}
			equal(t, got, want, "decoded entries")
		})
	}
}

// A counter delta in a pack takes half what it takes as an envelope.
func TestPackEntryIsSmallerThanAnEnvelope(t *testing.T) {
	e := sampleEnvelope()
	env, err := Default().EncodeEnvelope(&e)
	noErr(t, err)
	if got := PackEntrySize(e.Name, e.Payload); got >= len(env) {
		t.Errorf("a pack entry takes %d bytes, its envelope %d", got, len(env))
	}
}

func TestAppendPackEntryRejectsInvalidUTF8(t *testing.T) {
	dst := []byte{0x82}
	got, err := AppendPackEntry(dst, "bad\xff", nil)
	wantErr(t, err, ErrMalformed, "not valid UTF-8")
	equal(t, got, []byte{0x82}, "dst after error")
}

func TestDecodePackRejects(t *testing.T) {
	c := Default()
	good := encodePack(t, []packEntry{{"a", []byte{1}}, {"b", []byte{2}}})
	cases := []struct {
		name   string
		data   []byte
		target error
		text   string
		took   int
	}{
		{"empty", nil, ErrMalformed, "empty input", 0},
		{"not an array", []byte{0xa0}, ErrMalformed, "pack must be an array, got map", 0},
		{"odd count", []byte{0x83, 0x60, 0x40, 0x60}, ErrMalformed, "pack of 3 items is not name and payload pairs", 0},
		{"name not text", []byte{0x84, 0x61, 'a', 0x40, 0x41, 'b', 0x40}, ErrTypeMismatch, "entry 1 of 2: name", 1},
		{"name not UTF-8", []byte{0x82, 0x61, 0xff, 0x40}, ErrMalformed, "", 0},
		{"payload not bytes", []byte{0x84, 0x61, 'a', 0x40, 0x61, 'b', 0x01}, ErrTypeMismatch, `entry 1 of 2 ("b"): payload`, 1},
		{"truncated", good[:len(good)-1], ErrMalformed, "", 0},
		{"trailing data", append(append([]byte{}, good...), 0), ErrMalformed, "", 0},
		{"count beyond input", []byte{0x9a, 0x00, 0x10, 0x00, 0x00}, ErrMalformed, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := decodePack(c, tc.data)
			wantErr(t, err, tc.target, tc.text)
			equal(t, n, tc.took, "entries taken before the error")
		})
	}
	small, err := New(Limits{MaxMessageBytes: 64, MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16})
	noErr(t, err)
	many := make([]packEntry, 9) // 18 items > MaxArrayElements
	_, _, err = decodePack(small, encodePack(t, many))
	wantErr(t, err, ErrTooLarge, "")
	big := encodePack(t, []packEntry{{"a", make([]byte, 64)}})
	_, _, err = decodePack(small, big)
	wantErr(t, err, ErrTooLarge, "")
}

func FuzzDecodePack(f *testing.F) {
	f.Add(encodePack(f, []packEntry{{"burst-1", []byte{0xa1, 0x01, 0xa0}}, {"b", nil}}))
	f.Add([]byte{0x80})
	f.Add([]byte{0x83, 0x60, 0x40, 0x60})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := fuzzCodec(t)
		got, n, err := decodePack(c, data)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		equal(t, n, len(got), "entries taken")
		enc := encodePack(t, got)
		again, _, err := decodePack(c, enc)
		noErr(t, err)
		equal(t, again, got, "re-decoded pack")
		if !bytes.Equal(encodePack(t, again), enc) {
			t.Fatal("encoding is not a fixed point")
		}
	})
}
