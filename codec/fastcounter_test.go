package codec

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
	"unsafe"

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

// genericEncode encodes v through fxamacker/cbor alone, as Marshal did
// before the fast path, with the same checks of the output.
func genericEncode(c *Codec, v any) ([]byte, error) {
	out, err := c.appendMarshalNoLimit(nil, v)
	if err != nil {
		return nil, err
	}
	return out, c.checkOutput(out)
}

// The fast encoder writes every counter it takes byte for byte as
// fxamacker/cbor does, and declines what it cannot write so.
func TestCounterFastPathEncodesAsCBORDoes(t *testing.T) {
	c := Default()
	samples := append(counterSamples(t),
		&crdt.GCounter{S: []crdt.Slot{{Replica: crdt.Replica{Node: "", Incarnation: 0}, N: 0}}},
		&crdt.PNCounter{N: crdt.GCounter{S: []crdt.Slot{{Replica: crdt.Replica{Node: string(make([]byte, 300)), Incarnation: math.MaxUint64}, N: math.MaxUint64}}}},
	)
	for i, v := range samples {
		want, err := genericEncode(c, v)
		noErr(t, err)
		got, ok := c.appendCounter([]byte{0xee}, v)
		g, isG := v.(*crdt.GCounter)
		wantFast := !isG || len(g.Gone) == 0
		if ok != wantFast {
			t.Fatalf("sample %d (%T): fast encoder took it: %v, want %v", i, v, ok, wantFast)
		}
		if !ok {
			continue
		}
		if got[0] != 0xee || !reflect.DeepEqual(got[1:], want) {
			t.Fatalf("sample %d: fast encoder wrote % x, fxamacker/cbor % x", i, got[1:], want)
		}
		m, err := c.Marshal(v)
		noErr(t, err)
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("sample %d: Marshal wrote % x, want % x", i, m, want)
		}
	}
	for name, v := range map[string]any{
		"nil counter":        (*crdt.PNCounter)(nil),
		"invalid UTF-8 name": &crdt.GCounter{S: []crdt.Slot{{Replica: crdt.Replica{Node: "\xff", Incarnation: 1}, N: 1}}},
		"not a counter":      &crdt.Replica{Node: "a"},
	} {
		if _, ok := c.appendCounter(nil, v); ok {
			t.Errorf("%s: the fast encoder took it", name)
		}
	}
	// More slots than the limits allow are left to the generic encoder,
	// whose error Marshal returns as before; so is a result too large.
	small := fuzzCodec(t)
	many := crdt.NewGCounter(crdt.Replica{Node: "a", Incarnation: 1})
	for i := range 65 {
		o := crdt.NewGCounter(crdt.Replica{Node: fmt.Sprint("n", i), Incarnation: 1})
		o.Add(1)
		many.Merge(time.Time{}, o)
	}
	if _, ok := small.appendCounter(nil, many); ok {
		t.Error("the fast encoder took 65 slots under a limit of 64")
	}
	_, err := small.Marshal(many)
	wantErr(t, err, ErrTooLarge, "")
	huge := &crdt.GCounter{S: []crdt.Slot{{Replica: crdt.Replica{Node: string(make([]byte, 1<<16)), Incarnation: 1}, N: 1}}}
	_, err = small.Marshal(huge)
	wantErr(t, err, ErrTooLarge, "limit 65536")
}

// DecodePNCounter returns what Unmarshal decodes into a new PN counter,
// for every shape (the fast path's, and retirement records, which it
// leaves to the generic decoder), and errors as Unmarshal does; a delta of
// one or two slots costs one allocation.
func TestDecodePNCounter(t *testing.T) {
	c := Default()
	r := crdt.Replica{Node: "node-3", Incarnation: 1764600000123456789}
	one := crdt.NewPNCounter(r)
	one.Add(12345)
	d1, _ := one.Delta()
	two := crdt.NewPNCounter(r)
	two.Add(7)
	two.Add(-3)
	d2, _ := two.Delta()
	samples := []*crdt.PNCounter{d1, d2, {N: crdt.GCounter{S: []crdt.Slot{{Replica: r, N: 4}}}},
		{P: crdt.GCounter{S: []crdt.Slot{{Replica: r, N: 2}},
			Gone: []crdt.Retirement{{Replica: crdt.Replica{Node: "b", Incarnation: 1}, N: 3, Into: r, Gen: 1, At: 5}}}}}
	for _, v := range counterSamples(t) {
		if pn, ok := v.(*crdt.PNCounter); ok {
			samples = append(samples, pn)
		}
	}
	for i, v := range samples {
		data, err := c.Marshal(v)
		noErr(t, err)
		want := &crdt.PNCounter{}
		noErr(t, c.Unmarshal(data, want))
		got, err := c.DecodePNCounter(data)
		noErr(t, err)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("sample %d: DecodePNCounter read %+v, Unmarshal %+v", i, got, want)
		}
	}
	for _, d := range []*crdt.PNCounter{d1, d2} {
		data, err := c.Marshal(d)
		noErr(t, err)
		if n := testing.AllocsPerRun(100, func() { _, _ = c.DecodePNCounter(data) }); n != 1 {
			t.Errorf("decoding a delta of %d slots took %v allocations, want 1", len(d.P.S)+len(d.N.S), n)
		}
	}
	_, err := c.DecodePNCounter([]byte{0xa1, 0x01})
	wantErr(t, err, ErrMalformed, "")
	for _, data := range [][]byte{
		{0xa1, 0x03, 0xa0},             // an unknown key: ignored, as Unmarshal does
		{0xa0, 0x00},                   // trailing bytes
		{0xa1, 0x01, 0xa1, 0x01, 0x80}, // an empty slot list, which Marshal omits
	} {
		samePN(t, c, data)
	}
}

// samePN fails t unless DecodePNCounter and Unmarshal agree on data.
func samePN(t *testing.T, c *Codec, data []byte) {
	t.Helper()
	want := &crdt.PNCounter{}
	werr := c.Unmarshal(data, want)
	got, err := c.DecodePNCounter(data)
	switch {
	case (err == nil) != (werr == nil):
		t.Fatalf("% x: DecodePNCounter says %v, Unmarshal %v", data, err, werr)
	case err == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("% x: DecodePNCounter read %+v, Unmarshal %+v", data, got, want)
	}
}

// Whatever the fast path accepts, the generic decoder accepts with the same
// result, and the fast encoder writes it back as fxamacker/cbor does; the
// fast path never panics.
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
			samePN(t, cd, data)
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
				if enc, ok := cd.appendCounter(nil, v); ok {
					if g, err := genericEncode(cd, v); err == nil && !reflect.DeepEqual(enc, g) {
						t.Fatalf("%T %+v: the fast encoder wrote % x, fxamacker/cbor % x", v, v, enc, g)
					}
				}
			}
		}
	})
}

// The cost of encoding a one-replica PN counter delta (what a flush writes
// per value in a burst), by the fast path and by fxamacker/cbor alone.
func BenchmarkMarshalPNCounterDelta(b *testing.B) {
	c := Default()
	pn := crdt.NewPNCounter(crdt.Replica{Node: "node-3", Incarnation: 1764600000123456789})
	pn.Add(12345)
	d, _ := pn.Delta()
	buf := make([]byte, 0, 256)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.AppendMarshal(buf[:0], d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := genericEncode(c, d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The cost of decoding a one-replica PN counter delta (what a burst
// carries per value): Unmarshal's fast path, DecodePNCounter, and
// fxamacker/cbor alone.
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
	b.Run("boxed", func(b *testing.B) { // DecodePNCounter, as swarm decodes
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.DecodePNCounter(data); err != nil {
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

// Deltas from one origin decode to one shared string for its name, so a
// burst's thousands of slots hold one copy; a long name is never cached.
func TestCounterFastPathSharesNamesWithinABound(t *testing.T) {
	c := Default()
	decodeName := func(name string) string {
		t.Helper()
		g := crdt.NewGCounter(crdt.Replica{Node: name, Incarnation: 1})
		g.Add(1)
		data, err := c.Marshal(g)
		noErr(t, err)
		var out crdt.GCounter
		if !c.unmarshalCounter(data, &out) {
			t.Fatalf("the fast path declined %q", name)
		}
		if got := out.S[0].Replica.Node; got != name {
			t.Fatalf("decoded %q, want %q", got, name)
		}
		return out.S[0].Replica.Node
	}
	a, b := decodeName("node-7"), decodeName("node-7")
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("two decodes of one name hold two copies")
	}
	long := string(make([]byte, maxCachedName+1))
	if l1, l2 := decodeName(long), decodeName(long); unsafe.StringData(l1) == unsafe.StringData(l2) {
		t.Error("a name longer than maxCachedName was cached")
	}
	// The cache is a fixed array: made-up names only replace others, and
	// every name still decodes right, cached or not.
	for i := range 10 * nameCacheSize {
		decodeName(fmt.Sprint("made-up-", i))
	}
	decodeName("node-7")
}
