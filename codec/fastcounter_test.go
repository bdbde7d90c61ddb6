package codec

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// counterSamples are counters as the engine sends them: deltas and full
// states of one to many replicas, counts across every integer width,
// names across text-length widths, a record of a retired replica (which
// the fast path leaves to the generic decoder).
func counterSamples(t testing.TB) []any {
	var out []any
	now := time.Unix(1700000000, 0)
	for _, replicas := range []int{1, 3, 30} {
		pn := crdt.NewPNCounter(crdt.Replica{Node: "origin", Incarnation: 1})
		g := crdt.NewGCounter(crdt.Replica{Node: "origin", Incarnation: 1})
		for i := range replicas {
			name := fmt.Sprintf("node-%d-%s", i, string(make([]byte, i*9)))
			r := crdt.Replica{Node: name, Incarnation: uint64(1) << (i % 64)}
			o := crdt.NewPNCounter(r)
			o.Add(int64(i*i*1000 + 1))
			o.Add(-int64(i + 1))
			pn.Merge(now, o)
			og := crdt.NewGCounter(r)
			og.Add(uint64(1) << (i % 60))
			g.Merge(now, og)
		}
		pn.Add(math.MaxInt32)
		g.Add(7)
		out = append(out, pn.Clone(), g.Clone())
		if d, ok := pn.Delta(); ok {
			out = append(out, d)
		}
		if d, ok := g.Delta(); ok {
			out = append(out, d)
		}
	}
	out = append(out, &crdt.PNCounter{}, &crdt.GCounter{},
		&crdt.GCounter{S: []crdt.Slot{{Replica: crdt.Replica{Node: "a", Incarnation: 1}, N: 2}},
			Gone: []crdt.Retirement{{Replica: crdt.Replica{Node: "b", Incarnation: 1}, N: 3, Into: crdt.Replica{Node: "a", Incarnation: 1}, Gen: 1, At: 5}}})
	return out
}

// generic decodes data into a new value of v's type through fxamacker/cbor
// alone, as Unmarshal did before the fast path.
func generic(c *Codec, data []byte, v any) (any, error) {
	out := reflect.New(reflect.TypeOf(v).Elem()).Interface()
	return out, c.dec.Unmarshal(data, out)
}

// What Marshal writes for a counter decodes by the fast path (so it is not
// dead code), except a state with retirement records, and gives exactly
// what the generic decoder gives.
func TestCounterFastPathDecodesWhatMarshalWrites(t *testing.T) {
	c := Default()
	for i, v := range counterSamples(t) {
		data, err := c.Marshal(v)
		noErr(t, err)
		fast := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		ok := c.unmarshalCounter(data, fast)
		g, ok2 := v.(*crdt.GCounter)
		wantFast := !ok2 || len(g.Gone) == 0
		if ok != wantFast {
			t.Fatalf("sample %d (%T): fast path took it: %v, want %v", i, v, ok, wantFast)
		}
		want, err := generic(c, data, v)
		noErr(t, err)
		if ok && !reflect.DeepEqual(fast, want) {
			t.Fatalf("sample %d: fast path decoded %+v, generic %+v", i, fast, want)
		}
		got := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		noErr(t, c.Unmarshal(data, got))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("sample %d: Unmarshal decoded %+v, generic %+v", i, got, want)
		}
	}
}

// Inputs outside Marshal's shape are declined, so that the generic decoder
// accepts or rejects them exactly as before.
func TestCounterFastPathDeclinesWhatItDoesNotExpect(t *testing.T) {
	c := Default()
	for name, data := range map[string][]byte{
		"unknown key":          {0xa1, 0x05, 0x80},
		"duplicate key":        {0xa2, 0x01, 0xa0, 0x01, 0xa0},
		"non-shortest count":   {0xa1, 0x01, 0xa1, 0x01, 0x81, 0x82, 0xa1, 0x01, 0x61, 'a', 0x18, 0x01},
		"slot of three":        {0xa1, 0x01, 0xa1, 0x01, 0x81, 0x83, 0xa0, 0x01, 0x01},
		"trailing byte":        {0xa0, 0x00},
		"invalid UTF-8 name":   {0xa1, 0x01, 0xa1, 0x01, 0x81, 0x82, 0xa1, 0x01, 0x61, 0xff, 0x01},
		"empty slot list":      {0xa1, 0x01, 0xa1, 0x01, 0x80},
		"negative count":       {0xa1, 0x01, 0xa1, 0x01, 0x81, 0x82, 0xa0, 0x20},
		"text key":             {0xa1, 0x61, '1', 0xa0},
		"truncated":            {0xa1, 0x01, 0xa1, 0x01, 0x82, 0x82, 0xa0, 0x01},
		"count beyond the end": {0xa1, 0x01, 0xa1, 0x01, 0x9a, 0xff, 0xff, 0xff, 0xff},
	} {
		if c.unmarshalCounter(data, &crdt.PNCounter{}) {
			t.Errorf("%s: the fast path took % x", name, data)
		}
	}
	// A target that is not empty is left to the generic decoder too.
	full := &crdt.PNCounter{P: crdt.GCounter{S: []crdt.Slot{{Replica: crdt.Replica{Node: "a", Incarnation: 1}, N: 1}}}}
	if c.unmarshalCounter([]byte{0xa0}, full) {
		t.Error("the fast path decoded into a counter that was not empty")
	}
}

// Whatever the fast path accepts, the generic decoder accepts with the same
// result; the fast path never panics.
func FuzzCounterFastPath(f *testing.F) {
	c := Default()
	for _, v := range counterSamples(f) {
		data, err := c.Marshal(v)
		noErr(f, err)
		f.Add(data)
	}
	f.Add([]byte{0xa2, 0x02, 0xa0, 0x01, 0xa1, 0x01, 0x81, 0x82, 0xa2, 0x02, 0x01, 0x01, 0x61, 'a', 0x05})
	small := fuzzCodec(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, cd := range []*Codec{c, small} {
			for _, v := range []any{&crdt.PNCounter{}, &crdt.GCounter{}} {
				if !cd.unmarshalCounter(data, v) {
					continue
				}
				want, err := generic(cd, data, v)
				if err != nil {
					t.Fatalf("%T: the fast path took % x, which the generic decoder rejects: %v", v, data, err)
				}
				if !reflect.DeepEqual(v, want) {
					t.Fatalf("%T: the fast path decoded % x as %+v, the generic decoder as %+v", v, data, v, want)
				}
			}
		}
	})
}

// The cost of decoding a one-replica PN counter delta (what a burst
// carries per value), by the fast path and by fxamacker/cbor alone.
func BenchmarkUnmarshalPNCounterDelta(b *testing.B) {
	c := Default()
	pn := crdt.NewPNCounter(crdt.Replica{Node: "node-3", Incarnation: 1764600000123456789})
	pn.Add(12345)
	d, _ := pn.Delta()
	data, err := c.Marshal(d)
	noErr(b, err)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v crdt.PNCounter
			if err := c.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v crdt.PNCounter
			if err := c.dec.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
