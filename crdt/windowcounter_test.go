package crdt

import (
	"errors"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func mustWindow(t interface{ Fatal(...any) }, self Replica, window time.Duration, buckets int) *WindowCounter {
	w, err := NewWindowCounter(self, window, buckets)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWindowCounterLaws(t *testing.T) {
	const window, buckets = 10 * time.Millisecond, 5
	checkLaws(t, lawCase[*WindowCounter]{
		step:   3 * time.Millisecond,
		settle: func(w *WindowCounter, now time.Time) { w.Expire(now) },
		start: func() (func(Replica) *WindowCounter, func(*rapid.T, *WindowCounter, Replica, time.Time), func(*rapid.T, *WindowCounter, time.Time)) {
			// The naive model: every event, per replica and bucket.
			ref := map[Replica]map[int64]uint64{}
			newLocal := func(r Replica) *WindowCounter { return mustWindow(t, r, window, buckets) }
			op := func(rt *rapid.T, w *WindowCounter, r Replica, now time.Time) {
				switch r.Node {
				case "b": // a replica whose clock lags, sometimes going backwards
					now = now.Add(-time.Duration(rapid.Int64Range(0, int64(3*time.Millisecond)).Draw(rt, "lag")))
				case "c": // one whose clock runs ahead: its buckets reach peers early
					now = now.Add(time.Duration(rapid.Int64Range(0, int64(3*time.Millisecond)).Draw(rt, "lead")))
				}
				n := rapid.Uint64Range(0, 5).Draw(rt, "n")
				w.AddAt(now, n)
				if n == 0 {
					return // AddAt of 0 does nothing: no bucket, no newer newest
				}
				if ref[r] == nil {
					ref[r] = map[int64]uint64{}
				}
				ref[r][floorDiv(now.UnixNano(), w.width)] += n
			}
			check := func(rt *rapid.T, w *WindowCounter, now time.Time) {
				width := int64(window / buckets)
				cur := floorDiv(now.UnixNano(), width)
				frac := float64(now.UnixNano()-cur*width) / float64(width)
				var total float64
				for r, bs := range ref {
					// A replica keeps the B+1 buckets up to its newest.
					newest := int64(math.MinInt64)
					for idx := range bs {
						if idx <= cur+buckets {
							newest = max(newest, idx)
						}
					}
					var want float64
					for idx, n := range bs {
						switch {
						case idx < newest-buckets:
						case idx > cur-buckets && idx <= cur+buckets:
							want += float64(n)
						case idx == cur-buckets:
							want += float64(n) * (1 - frac)
						}
					}
					if got := w.ReplicaValueAt(r, now); math.Abs(got-want) > 1e-9 {
						rt.Fatalf("ReplicaValueAt(%s) = %v, want %v", r, got, want)
					}
					total += want
				}
				if got := w.ValueAt(now); math.Abs(got-total) > 1e-9 {
					rt.Fatalf("ValueAt = %v, want %v", got, total)
				}
			}
			return newLocal, op, check
		},
	})
}

func TestNewWindowCounterConfig(t *testing.T) {
	for _, tc := range []struct {
		window  time.Duration
		buckets int
		ok      bool
	}{
		{time.Second, 10, true},
		{time.Second, 1, true},
		{1024, 1024, true},
		{0, 10, false},
		{-time.Second, 10, false},
		{time.Second, 0, false},
		{time.Second, 1025, false},
		{time.Second, 3, false}, // 333333333.3 ns buckets
		{5, 10, false},          // buckets under 1 ns
	} {
		_, err := NewWindowCounter(Replica{"a", 1}, tc.window, tc.buckets)
		if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewWindowCounter(%v, %d) = %v, want ok=%v", tc.window, tc.buckets, err, tc.ok)
		}
	}
}

// base is on a 2 s bucket boundary; the steps below use W = 10 s, B = 5.
var base = time.Unix(1_700_000_000, 0)

func at(d time.Duration) time.Time { return base.Add(d) }

func TestWindowCounterSteps(t *testing.T) {
	self := Replica{"self", 1}
	w := mustWindow(t, self, 10*time.Second, 5)
	type step struct {
		name string
		add  uint64 // added at now before reading, if not 0
		now  time.Time
		want float64 // ValueAt(now)
	}
	for _, s := range []step{
		{"first event", 3, at(0), 3},
		{"same bucket", 2, at(time.Second), 5},
		{"next bucket", 4, at(2 * time.Second), 9},
		{"window still holds everything", 0, at(10 * time.Second), 9},
		{"oldest bucket half out", 0, at(11 * time.Second), 4 + 5*0.5},
		{"oldest bucket a quarter in", 0, at(11*time.Second + 500*time.Millisecond), 4 + 5*0.25},
		{"first bucket out, second whole", 0, at(12 * time.Second), 4},
		{"second bucket half out", 0, at(13 * time.Second), 2},
		{"all out", 0, at(14 * time.Second), 0},
	} {
		if s.add != 0 {
			w.AddAt(s.now, s.add)
		}
		if got := w.ValueAt(s.now); math.Abs(got-s.want) > 1e-9 {
			t.Fatalf("%s: ValueAt = %v, want %v", s.name, got, s.want)
		}
		if got := w.OwnValueAt(s.now); math.Abs(got-s.want) > 1e-9 {
			t.Fatalf("%s: OwnValueAt = %v, want %v", s.name, got, s.want)
		}
	}
	if got := w.CountInRange(self, at(0), at(3*time.Second)); got != 9 {
		t.Fatalf("CountInRange = %d, want 9", got)
	}
	if got := w.CountInRange(self, at(2*time.Second), at(2*time.Second)); got != 4 {
		t.Fatalf("CountInRange(one bucket) = %d, want 4", got)
	}
	if n := w.Expire(at(12 * time.Second)); n != 1 {
		t.Fatalf("Expire dropped %d buckets, want 1", n)
	}
	if n := w.Expire(at(14 * time.Second)); n != 1 || len(w.Slots) != 0 {
		t.Fatalf("Expire dropped %d buckets leaving %v, want 1 and no slots", n, w.Slots)
	}
	// The replica counts again after its slot expired.
	w.AddAt(at(20*time.Second), 1)
	if got := w.ValueAt(at(20 * time.Second)); got != 1 {
		t.Fatalf("after expiry ValueAt = %v, want 1", got)
	}
}

func TestWindowCounterRing(t *testing.T) {
	w := mustWindow(t, Replica{"a", 1}, 10*time.Second, 5)
	now := base
	allocs := testing.AllocsPerRun(200, func() {
		w.AddAt(now, 1)
		now = now.Add(700 * time.Millisecond)
	})
	if allocs != 0 {
		t.Fatalf("AddAt allocates %v times per call in steady state", allocs)
	}
	b := w.Slots[0].Buckets
	if len(b) != 6 || b[len(b)-1].Index-b[0].Index != 5 {
		t.Fatalf("own slot holds %d buckets spanning %d, want B+1 = 6", len(b), b[len(b)-1].Index-b[0].Index)
	}
	// Time going backwards: within the ring it counts, beyond it is dropped.
	last := now.Add(-700 * time.Millisecond)
	before := w.ValueAt(last)
	w.AddAt(last.Add(-4*time.Second), 10)
	w.AddAt(last.Add(-time.Minute), 100)
	if got := w.ValueAt(last); got != before+10 {
		t.Fatalf("ValueAt = %v, want %v", got, before+10)
	}
}

func TestWindowCounterMergeDropsOld(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	w := mustWindow(t, a, 10*time.Second, 5)
	peer := mustWindow(t, b, 10*time.Second, 5)
	for i := range 6 {
		peer.AddAt(at(time.Duration(2*i)*time.Second), uint64(i+1)) // buckets 0..5 hold 1..6
	}
	// Merging at 12 s: bucket 0 ended when the window began; it is dropped.
	eff, changed := w.Merge(at(12*time.Second), peer.Clone())
	if !changed || len(eff.Slots) != 1 || len(eff.Slots[0].Buckets) != 5 {
		t.Fatalf("effect = %+v, want buckets 1..5", eff)
	}
	if got := w.ReplicaValueAt(b, at(12*time.Second)); got != 2+3+4+5+6 {
		t.Fatalf("ReplicaValueAt = %v, want 20", got)
	}
	// A newer bucket from the peer pushes its older ones out of the ring,
	// though they are still inside the window of now.
	newer := mustWindow(t, b, 10*time.Second, 5)
	newer.AddAt(at(18*time.Second), 7) // bucket 9: the ring is 4..9
	w.Merge(at(12*time.Second), newer)
	got := w.Slots[0].Buckets
	if len(got) != 3 || got[0].Index != got[2].Index-5 {
		t.Fatalf("peer buckets after merge = %v, want 4, 5 and 9", got)
	}
	// A bucket more than a window ahead of now is ignored and dropped.
	far := mustWindow(t, Replica{"c", 1}, 10*time.Second, 5)
	far.AddAt(at(time.Hour), 1000)
	if _, changed := w.Merge(at(12*time.Second), far); changed {
		t.Fatalf("a bucket an hour ahead was merged")
	}
	if w.ValueAt(at(12*time.Second)) > 100 {
		t.Fatalf("far-future bucket counted")
	}
}

func TestWindowCounterContributions(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	w := mustWindow(t, a, 10*time.Second, 5)
	peer := mustWindow(t, b, 10*time.Second, 5)
	w.AddAt(at(0), 4)
	peer.AddAt(at(4*time.Second), 10)
	peer.AddAt(at(7*time.Second), 6) // bucket 3
	w.Merge(at(8*time.Second), peer)
	cs := w.Contributions(at(8 * time.Second))
	if len(cs) != 2 || cs[0].Replica != a || cs[1].Replica != b {
		t.Fatalf("Contributions = %+v", cs)
	}
	if cs[0].Count != 4 || !cs[0].Newest.Equal(at(0)) {
		t.Fatalf("a: %+v, want 4 at base", cs[0])
	}
	if cs[1].Count != 16 || !cs[1].Newest.Equal(at(6*time.Second)) {
		t.Fatalf("b: %+v, want 16 newest at +6s", cs[1])
	}
	// b's rate over the last 4 s (2 buckets, the current one just begun):
	// buckets 3 and 4 whole, bucket 2 weighted by 1: (6 + 0 + 10·1)... at
	// exactly 8 s, k=2 covers buckets 3, 4 and weighs bucket 2 by 1.
	if got, want := w.ReplicaRate(b, at(8*time.Second), 4*time.Second), (6.0+10)/4; got != want {
		t.Fatalf("ReplicaRate = %v, want %v", got, want)
	}
	// Half a bucket later bucket 2 counts half.
	if got, want := w.ReplicaRate(b, at(9*time.Second), 4*time.Second), (6.0+5)/4; got != want {
		t.Fatalf("ReplicaRate = %v, want %v", got, want)
	}
	if w.ReplicaRate(Replica{"nobody", 1}, at(9*time.Second), time.Second) != 0 {
		t.Fatalf("rate of an unknown replica")
	}
}

func TestWindowCounterValidate(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	w := mustWindow(t, a, 10*time.Second, 5)

	other := mustWindow(t, b, 10*time.Second, 10)
	other.AddAt(base, 1)
	dst := w.Empty()
	if err := testDec.Unmarshal(canon(t, other), dst); err != nil {
		t.Fatal(err)
	}
	if err := dst.Validate(); !errors.Is(err, ErrConfigMismatch) {
		t.Fatalf("Validate = %v, want ErrConfigMismatch", err)
	}
	if _, changed := w.Merge(base, other); changed {
		t.Fatalf("a state with another configuration was merged")
	}

	ok := []Bucket{{Index: 1, N: 1}}
	for _, tc := range []struct {
		name  string
		slots []WindowSlot
	}{
		{"zero replica", []WindowSlot{{Buckets: ok}}},
		{"unsorted", []WindowSlot{{Replica: b, Buckets: ok}, {Replica: a, Buckets: ok}}},
		{"duplicate", []WindowSlot{{Replica: a, Buckets: ok}, {Replica: a, Buckets: ok}}},
		{"no buckets", []WindowSlot{{Replica: a}}},
		{"zero count", []WindowSlot{{Replica: a, Buckets: []Bucket{{Index: 1}}}}},
		{"buckets unsorted", []WindowSlot{{Replica: a, Buckets: []Bucket{{Index: 2, N: 1}, {Index: 1, N: 1}}}}},
		{"too many buckets", []WindowSlot{{Replica: a, Buckets: []Bucket{{Index: 1, N: 1}, {Index: 7, N: 1}}}}},
		{"index overflows", []WindowSlot{{Replica: a, Buckets: []Bucket{{Index: math.MaxInt64, N: 1}}}}},
	} {
		s := w.Empty()
		s.Slots = tc.slots
		if err := s.Validate(); !errors.Is(err, ErrInvalidState) {
			t.Errorf("%s: Validate = %v, want ErrInvalidState", tc.name, err)
		}
	}
	bad := &WindowCounter{WindowLen: -1, BucketCount: 5}
	if err := bad.Validate(); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("Validate(bad config) = %v", err)
	}
}

func TestWindowCounterGarbage(t *testing.T) {
	genBucket := rapid.Custom(func(t *rapid.T) Bucket {
		return Bucket{
			Index: rapid.SampledFrom([]int64{math.MinInt64, -1, 0, 850_000_000, 850_000_001, 850_000_003, math.MaxInt64}).Draw(t, "i"),
			N:     rapid.SampledFrom([]uint64{0, 1, math.MaxUint64}).Draw(t, "n"),
		}
	})
	rapid.Check(t, func(rt *rapid.T) {
		local := mustWindow(rt, Replica{"a", 1}, 10*time.Second, 5)
		local.AddAt(base, 1)
		gen := func(name string) *WindowCounter {
			x := local.Empty()
			if rapid.Bool().Draw(rt, name+".cfg") {
				x.WindowLen = time.Duration(rapid.Int64Range(-1, 20).Draw(rt, name+".W"))
				x.BucketCount = rapid.IntRange(-1, 6).Draw(rt, name+".B")
			}
			x.Slots = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) WindowSlot {
				return WindowSlot{Replica: genReplica().Draw(t, "r"), Buckets: rapid.SliceOfN(genBucket, 0, 3).Draw(t, "b")}
			}), 0, 3).Draw(rt, name+".slots")
			return x
		}
		x, y := gen("x"), gen("y")
		if x.Validate() == nil {
			local.Merge(base, x)
			local.AddAt(base, 1)
			local.ValueAt(base)
			local.Contributions(base)
			local.ReplicaRate(Replica{"b", 1}, base, time.Second)
			if y.Validate() == nil {
				x.Merge(base.Add(time.Hour), y)
			}
		}
		if err := local.Validate(); err != nil {
			rt.Fatalf("merging a valid state broke the invariants: %v", err)
		}
	})
}

func BenchmarkWindowCounterAdd(b *testing.B) {
	w := mustWindow(b, Replica{"a", 1}, time.Second, 10)
	now := base
	b.ReportAllocs()
	for b.Loop() {
		// 1 µs apart: a new bucket every 100000 calls, as under heavy load.
		now = now.Add(time.Microsecond)
		w.AddAt(now, 1)
	}
}

func BenchmarkWindowCounterValueAt10(b *testing.B) {
	w := mustWindow(b, Replica{"r00", 1}, time.Second, 10)
	for r := range 10 {
		p := mustWindow(b, Replica{Node: "r" + string(rune('0'+r)), Incarnation: 2}, time.Second, 10)
		for i := range 11 {
			p.AddAt(base.Add(time.Duration(i)*100*time.Millisecond), uint64(i+1))
		}
		w.Merge(base.Add(time.Second), p)
	}
	now := base.Add(time.Second + 50*time.Millisecond)
	b.ReportAllocs()
	var sink float64
	for b.Loop() {
		sink += w.ValueAt(now)
	}
	if sink == 0 {
		b.Fatal("no value")
	}
}

// BenchmarkWindowCounterMergeDelta merges a peer's one-bucket delta, as a
// rate limiter does every flush, into a counter with 200 buckets per slot.
func BenchmarkWindowCounterMergeDelta(b *testing.B) {
	const buckets = 200
	t0 := time.Unix(1_700_000_000, 0)
	width := 10 * time.Second / buckets
	local, _ := NewWindowCounter(Replica{Node: "a", Incarnation: 1}, 10*time.Second, buckets)
	peer, _ := NewWindowCounter(Replica{Node: "b", Incarnation: 1}, 10*time.Second, buckets)
	for k := 0; k < buckets; k++ {
		now := t0.Add(time.Duration(k) * width)
		peer.AddAt(now, 1)
		d, _ := peer.Delta()
		local.Merge(now, d)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now := t0.Add(time.Duration(buckets+i/4) * width)
		peer.AddAt(now, 1)
		d, _ := peer.Delta()
		if _, changed := local.Merge(now, d); !changed {
			b.Fatal("delta did not change the counter")
		}
	}
}
