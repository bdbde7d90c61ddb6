package crdt

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The merge laws hold for counters that retire replicas: the records join
// like the slots, deltas carry them, effects forward them. The horizon is
// far away, so this checks folds and re-homes under arbitrary views of who
// is gone and who folds; TestRetireModel checks commits and forgetting.
func TestGCounterLawsWithRetirement(t *testing.T) {
	checkLaws(t, lawCase[*GCounter]{
		step: time.Millisecond,
		start: func() (func(Replica) *GCounter, func(*rapid.T, *GCounter, Replica, time.Time), func(*rapid.T, *GCounter, time.Time)) {
			op := func(rt *rapid.T, c *GCounter, r Replica, now time.Time) {
				if rapid.Bool().Draw(rt, "retire") {
					gone := rapid.SliceOfNDistinct(rapid.SampledFrom(lawReplicas), 0, len(lawReplicas), func(r Replica) string { return r.String() }).Draw(rt, "gone")
					c.Retire(now, RetirePlan{
						Gone: func(x Replica) bool {
							for _, g := range gone {
								if g == x && x != r {
									return true
								}
							}
							return false
						},
						Folder:   rapid.Bool().Draw(rt, "folder"),
						Horizon:  time.Hour,
						MaxFolds: rapid.IntRange(0, 2).Draw(rt, "maxFolds"),
					})
					return
				}
				c.Add(rapid.Uint64Range(0, 1000).Draw(rt, "n"))
			}
			return NewGCounter, op, nil
		},
	})
}

// retireWorld is the reference model for retirement: processes (runs of
// named nodes) count into GCounters and exchange deltas and full states
// through a pool of messages that may be delivered in any order, late,
// more than once, or after their sender and receiver are gone. The model's
// truth is the sum of all increments ever made.
//
// Views of membership are wrong at will: any process may take itself for
// the folder, and any live replica may be judged gone (a partition). The
// one discipline the design asks for (docs/DESIGN.md, "Replica
// retirement") is the horizon: information reaches every live process
// within the horizon. The model enforces it with a sync at least every
// quarter horizon: every live process retires with a true view, then
// every message is delivered and every state reaches every process.
type retireWorld struct {
	t       *rapid.T
	procs   []*retireProc
	pool    []retireMsg
	total   uint64
	now     time.Time
	synced  time.Time
	horizon time.Duration
	names   int
}

type retireProc struct {
	c     *GCounter
	alive bool
}

type retireMsg struct {
	to    int
	state *GCounter
}

func (w *retireWorld) live() []int {
	var out []int
	for i, p := range w.procs {
		if p.alive {
			out = append(out, i)
		}
	}
	return out
}

func (w *retireWorld) isLive(r Replica) bool {
	for _, p := range w.procs {
		if p.alive && p.c.owner() == r {
			return true
		}
	}
	return false
}

func (w *retireWorld) spawn(name string, inc uint64) {
	w.procs = append(w.procs, &retireProc{c: NewGCounter(Replica{Node: name, Incarnation: inc}), alive: true})
}

// send puts a copy of st in flight to every live process but from.
func (w *retireWorld) send(from int, st *GCounter) {
	for _, j := range w.live() {
		if j != from {
			w.pool = append(w.pool, retireMsg{to: j, state: roundTrip(w.t, st.Clone())})
		}
	}
}

// kill stops process i; what it knew is in flight to everyone (its last
// flush or its state held by peers).
func (w *retireWorld) kill(i int) {
	p := w.procs[i]
	if d, ok := p.c.Delta(); ok {
		w.send(i, d)
	}
	w.send(i, p.c)
	p.alive = false
}

// handOver, drawn: process i, leaving on purpose, hands its records over
// to a live process of the draw's choice (any: the leaver's view may be
// wrong), or does not (a crash).
func (w *retireWorld) handOver(i int) {
	var others []int
	for _, j := range w.live() {
		if j != i {
			others = append(others, j)
		}
	}
	if len(others) == 0 || !rapid.Bool().Draw(w.t, "handover") {
		return
	}
	to := others[rapid.IntRange(0, len(others)-1).Draw(w.t, "handover to")]
	w.procs[i].c.HandOver(w.procs[to].c.owner())
}

func (w *retireWorld) deliver(k int, keep bool) {
	m := w.pool[k]
	if !keep {
		w.pool = append(w.pool[:k], w.pool[k+1:]...)
	}
	to := m.to
	if !w.procs[to].alive { // what a dead process would have relayed
		live := w.live()
		to = live[int(m.state.Value())%len(live)]
	}
	w.procs[to].c.Merge(w.now, m.state)
}

// retire runs a retirement pass at process i. late holds every re-home
// back (Orphaned false: the grace after an Into left), which must not
// change any total.
func (w *retireWorld) retire(i int, folder bool, misjudged func(Replica) bool, maxFolds int, late bool) {
	p := w.procs[i]
	gone := func(r Replica) bool {
		if r == p.c.owner() {
			return false
		}
		return !w.isLive(r) || misjudged(r)
	}
	p.c.Retire(w.now, RetirePlan{
		MaxFolds: maxFolds,
		Gone:     gone,
		Orphaned: func(r Replica) bool { return !late && gone(r) },
		Folder:   folder,
		Horizon:  w.horizon,
	})
}

// sync is the horizon's discipline: true views, full delivery.
func (w *retireWorld) sync() {
	live := w.live()
	folder := live[0]
	for _, i := range live[1:] {
		if w.procs[i].c.owner().Compare(w.procs[folder].c.owner()) < 0 {
			folder = i
		}
	}
	for _, i := range live {
		w.retire(i, i == folder, func(Replica) bool { return false }, 0, false)
		if d, ok := w.procs[i].c.Delta(); ok {
			w.send(i, d)
		}
	}
	for len(w.pool) > 0 {
		w.deliver(0, false)
	}
	for _, i := range live {
		for _, j := range live {
			w.procs[i].c.Merge(w.now, w.procs[j].c.Clone())
		}
	}
	w.synced = w.now
	for _, i := range live {
		roundTrip(w.t, w.procs[i].c.Clone()) // the state stays valid
		if got := w.procs[i].c.Value(); got != w.total {
			w.t.Fatalf("after a sync %s reads %d, want %d\nstate %+v", w.procs[i].c.owner(), got, w.total, w.procs[i].c)
		}
	}
}

func (w *retireWorld) step() {
	t := w.t
	live := w.live()
	pick := func(label string) int { return live[rapid.IntRange(0, len(live)-1).Draw(t, label)] }
	switch rapid.IntRange(0, 11).Draw(t, "op") {
	case 0, 1, 2:
		i := pick("adder")
		n := rapid.Uint64Range(1, 100).Draw(t, "n")
		w.procs[i].c.Add(n)
		w.total += n
	case 3:
		i := pick("flusher")
		if d, ok := w.procs[i].c.Delta(); ok {
			w.send(i, d)
		}
	case 4:
		i := pick("pusher")
		w.send(i, w.procs[i].c)
	case 5, 6:
		if len(w.pool) > 0 {
			k := rapid.IntRange(0, len(w.pool)-1).Draw(t, "msg")
			w.deliver(k, rapid.Bool().Draw(t, "duplicate"))
		}
	case 7:
		// A restart: the same name, a newer incarnation, an empty state.
		i := pick("restarted")
		self := w.procs[i].c.owner()
		w.spawn(self.Node, self.Incarnation+1) // first, so that someone hears the old run
		w.handOver(i)
		w.kill(i)
	case 8:
		// A departure (its name never comes back) or a new name.
		if len(live) > 1 && rapid.Bool().Draw(t, "leave") {
			i := pick("leaver")
			w.handOver(i)
			w.kill(i)
		} else if len(live) < 5 {
			w.names++
			w.spawn(fmt.Sprintf("n%d", w.names), 1)
		}
	case 9, 10:
		i := pick("retirer")
		misjudged := rapid.SliceOfN(rapid.IntRange(0, len(w.procs)-1), 0, 2).Draw(t, "misjudged")
		w.retire(i, rapid.Bool().Draw(t, "folder"), func(r Replica) bool {
			for _, k := range misjudged {
				if w.procs[k].c.owner() == r {
					return true
				}
			}
			return false
		}, rapid.IntRange(0, 2).Draw(t, "maxFolds"), rapid.Bool().Draw(t, "rehomeLate"))
	case 11:
		dt := time.Duration(rapid.Int64Range(0, int64(w.horizon/4)).Draw(t, "dt"))
		if w.now.Add(dt).Sub(w.synced) > w.horizon/4 {
			w.sync()
		}
		w.now = w.now.Add(dt)
	}
}

// TestRetireModel runs random histories of increments, restarts,
// departures, folds by any number of self-appointed folders, misjudged
// live replicas, reordering, duplication and late delivery, and checks
// that every live replica reads the exact total after each sync, and that
// once the history ends and a few horizons pass, each counter holds at
// most two entries (slots and records) per live replica.
func TestRetireModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := &retireWorld{t: rt, now: t0, synced: t0, horizon: time.Minute}
		for i := range 3 {
			w.spawn(fmt.Sprintf("n%d", i), 1)
		}
		w.names = 3
		for range rapid.IntRange(0, 150).Draw(rt, "steps") {
			w.step()
		}
		// Quiet time: syncs every quarter horizon for three horizons, so
		// every fold settles, commits and is forgotten.
		for range 13 {
			w.now = w.now.Add(w.horizon / 4)
			w.sync()
		}
		live := w.live()
		for _, i := range live {
			c := w.procs[i].c
			if n := len(c.S) + len(c.Gone); n > 2*len(live) {
				rt.Fatalf("%s holds %d slots and %d records for %d live replicas:\n%+v", c.owner(), len(c.S), len(c.Gone), len(live), c)
			}
			for _, s := range c.S {
				if !w.isLive(s.Replica) {
					rt.Fatalf("%s still holds a slot of the gone replica %s", c.owner(), s.Replica)
				}
			}
		}
	})
}

// orsetWorld runs the same history on two copies of every replica's set:
// one that retires replicas and one that never does (the plain ORSet,
// whose laws are tested on their own). Retirement must not change what any
// replica reads: no removed element comes back, no added element is lost.
type orsetWorld struct {
	t       *rapid.T
	procs   []*orsetProc
	pool    []orsetMsg
	now     time.Time
	synced  time.Time
	horizon time.Duration
	names   int
}

type orsetProc struct {
	s, ref *ORSet[int]
	alive  bool
}

type orsetMsg struct {
	to     int
	s, ref *ORSet[int]
}

func (w *orsetWorld) live() []int {
	var out []int
	for i, p := range w.procs {
		if p.alive {
			out = append(out, i)
		}
	}
	return out
}

func (w *orsetWorld) isLive(r Replica) bool {
	for _, p := range w.procs {
		if p.alive && p.s.self == r {
			return true
		}
	}
	return false
}

func (w *orsetWorld) spawn(name string, inc uint64) {
	r := Replica{Node: name, Incarnation: inc}
	w.procs = append(w.procs, &orsetProc{s: NewORSet[int](r), ref: NewORSet[int](r), alive: true})
}

func (w *orsetWorld) send(from int, s, ref *ORSet[int]) {
	for _, j := range w.live() {
		if j != from {
			w.pool = append(w.pool, orsetMsg{to: j, s: roundTrip(w.t, s.Clone()), ref: ref.Clone()})
		}
	}
}

func (w *orsetWorld) flush(i int) {
	p := w.procs[i]
	d, ok := p.s.Delta()
	dr, okr := p.ref.Delta()
	if ok || okr {
		if !ok {
			d = &ORSet[int]{}
		}
		if !okr {
			dr = &ORSet[int]{}
		}
		w.send(i, d, dr)
	}
}

func (w *orsetWorld) deliver(k int, keep bool) {
	m := w.pool[k]
	if !keep {
		w.pool = append(w.pool[:k], w.pool[k+1:]...)
	}
	to := m.to
	if !w.procs[to].alive {
		live := w.live()
		to = live[k%len(live)]
	}
	w.procs[to].s.Merge(w.now, m.s)
	w.procs[to].ref.Merge(w.now, m.ref)
}

func (w *orsetWorld) retire(i int, folder bool, misjudged func(Replica) bool) {
	p := w.procs[i]
	p.s.Retire(w.now, RetirePlan{
		Gone: func(r Replica) bool {
			return r != p.s.self && (!w.isLive(r) || misjudged(r))
		},
		Folder:  folder,
		Horizon: w.horizon,
	})
}

func (w *orsetWorld) sync() {
	live := w.live()
	for k, i := range live {
		w.retire(i, k == 0, func(Replica) bool { return false })
		w.flush(i)
	}
	for len(w.pool) > 0 {
		w.deliver(0, false)
	}
	for _, i := range live {
		for _, j := range live {
			w.procs[i].s.Merge(w.now, w.procs[j].s.Clone())
			w.procs[i].ref.Merge(w.now, w.procs[j].ref.Clone())
		}
	}
	w.synced = w.now
	for _, i := range live {
		p := w.procs[i]
		roundTrip(w.t, p.s.Clone()) // the state stays valid
		if got, want := fmt.Sprint(p.s.Elements()), fmt.Sprint(p.ref.Elements()); got != want {
			w.t.Fatalf("after a sync %s reads %s, without retirement %s", p.s.self, got, want)
		}
	}
}

func (w *orsetWorld) step() {
	t := w.t
	live := w.live()
	pick := func(label string) int { return live[rapid.IntRange(0, len(live)-1).Draw(t, label)] }
	switch rapid.IntRange(0, 11).Draw(t, "op") {
	case 0, 1:
		p := w.procs[pick("adder")]
		v := rapid.IntRange(0, 5).Draw(t, "v")
		p.s.Add(v)
		p.ref.Add(v)
	case 2:
		p := w.procs[pick("remover")]
		v := rapid.IntRange(0, 5).Draw(t, "v")
		p.s.Remove(v)
		p.ref.Remove(v)
	case 3:
		w.flush(pick("flusher"))
	case 4:
		i := pick("pusher")
		w.send(i, w.procs[i].s, w.procs[i].ref)
	case 5, 6:
		if len(w.pool) > 0 {
			k := rapid.IntRange(0, len(w.pool)-1).Draw(t, "msg")
			w.deliver(k, rapid.Bool().Draw(t, "duplicate"))
		}
	case 7:
		i := pick("restarted")
		self := w.procs[i].s.self
		w.spawn(self.Node, self.Incarnation+1)
		w.flush(i)
		w.send(i, w.procs[i].s, w.procs[i].ref)
		w.procs[i].alive = false
	case 8:
		if len(live) > 1 && rapid.Bool().Draw(t, "leave") {
			i := pick("leaver")
			w.flush(i)
			w.send(i, w.procs[i].s, w.procs[i].ref)
			w.procs[i].alive = false
		} else if len(live) < 5 {
			w.names++
			w.spawn(fmt.Sprintf("n%d", w.names), 1)
		}
	case 9, 10:
		i := pick("retirer")
		misjudged := rapid.SliceOfN(rapid.IntRange(0, len(w.procs)-1), 0, 2).Draw(t, "misjudged")
		w.retire(i, rapid.Bool().Draw(t, "folder"), func(r Replica) bool {
			for _, k := range misjudged {
				if w.procs[k].s.self == r {
					return true
				}
			}
			return false
		})
	case 11:
		dt := time.Duration(rapid.Int64Range(0, int64(w.horizon/4)).Draw(t, "dt"))
		if w.now.Add(dt).Sub(w.synced) > w.horizon/4 {
			w.sync()
		}
		w.now = w.now.Add(dt)
	}
}

// TestORSetRetireModel: retirement never changes an ORSet's elements, and
// after a few quiet horizons the context names only live replicas and
// replicas whose dots still tag an element.
func TestORSetRetireModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := &orsetWorld{t: rt, now: t0, synced: t0, horizon: time.Minute}
		for i := range 3 {
			w.spawn(fmt.Sprintf("n%d", i), 1)
		}
		w.names = 3
		for range rapid.IntRange(0, 150).Draw(rt, "steps") {
			w.step()
		}
		for range 13 {
			w.now = w.now.Add(w.horizon / 4)
			w.sync()
		}
		for _, i := range w.live() {
			s := w.procs[i].s
			tagging := map[Replica]bool{}
			for _, e := range s.E {
				tagging[e.Dot.Replica] = true
			}
			for _, d := range append(append([]Dot(nil), s.VV...), s.Cloud...) {
				if !w.isLive(d.Replica) && !tagging[d.Replica] {
					rt.Fatalf("%s's context still names the gone replica %s, which tags no element", s.self, d.Replica)
				}
			}
		}
	})
}

// A live replica that a partition made look gone is retired, and comes
// back. If it stays idle, its count lives in its record, which it takes
// over and keeps fresh; if it counts on, its slot outgrows the record, and
// the record is kept for its committed part. Either way a member that goes
// on taking it for gone must not forget the record: r's deltas carry only
// its own slot, so a forgotten record would count its committed part
// twice. r keeps the record fresh (it takes it over once committed), so
// s never finds it old enough to forget.
func TestRetireAliveAgain(t *testing.T) {
	const h = time.Minute
	for _, idle := range []bool{true, false} {
		t.Run(fmt.Sprintf("idle=%v", idle), func(t *testing.T) {
			r, s := Replica{"r", 1}, Replica{"s", 1}
			cr, cs := NewGCounter(r), NewGCounter(s)
			want := uint64(5)
			cr.Add(5)
			cs.Merge(t0, cr.Clone())
			exchange := func(now time.Time) {
				if d, ok := cr.Delta(); ok {
					cs.Merge(now, d)
				}
				cr.Merge(now, cs.Clone())
				for _, c := range []*GCounter{cr, cs} {
					if got := c.Value(); got != want {
						t.Fatalf("at +%v %s reads %d, want %d\nr %+v\ns %+v", now.Sub(t0), c.owner(), got, want, cr, cs)
					}
				}
			}
			misjudged := RetirePlan{Gone: func(x Replica) bool { return x == r }, Folder: true, Horizon: h}
			truth := RetirePlan{Gone: func(Replica) bool { return false }, Horizon: h}
			exchange(t0)
			if !cs.Retire(t0, misjudged) {
				t.Fatalf("s did not fold r")
			}
			exchange(t0)
			if !idle {
				cr.Add(2)
				want += 2
				exchange(t0)
			}
			for now := t0; now.Before(t0.Add(4 * h)); now = now.Add(h / 4) {
				cr.Retire(now, truth)
				cs.Retire(now, misjudged)
				exchange(now)
			}
			cr.Add(1)
			want++
			exchange(t0.Add(4 * h))
		})
	}
}

// A window counter that nobody touches any more still lets go of a gone
// replica's slot once its window has passed: the retirement pass expires it.
func TestWindowCounterRetireExpires(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	w, err := NewWindowCounter(a, time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewWindowCounter(b, time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	other.AddAt(t0, 3)
	w.Merge(t0, other)
	if len(w.Slots) != 1 {
		t.Fatalf("%d slots, want b's", len(w.Slots))
	}
	if w.Retire(t0.Add(3*time.Second), RetirePlan{}) {
		t.Fatalf("expiry reported a replicated change")
	}
	if len(w.Slots) != 0 {
		t.Fatalf("a gone replica's slot outlived its window: %+v", w.Slots)
	}
}

// Records from the wire are checked like slots: a bad one fails Validate.
func TestRetirementValidate(t *testing.T) {
	r, s := Replica{"r", 1}, Replica{"s", 1}
	ok := Retirement{Replica: r, N: 5, A: 3, Into: s, Gen: 1, At: 1}
	cases := map[string][]Retirement{
		"zero replica":  {{N: 5, Into: s}},
		"zero into":     {{Replica: r, N: 5}},
		"zero count":    {{Replica: r, Into: s}},
		"committed > N": {{Replica: r, N: 5, A: 6, Into: s}},
		"unsorted":      {{Replica: s, N: 1, Into: r}, ok},
		"duplicate":     {ok, ok},
	}
	for name, gone := range cases {
		c := &GCounter{Gone: gone}
		if err := c.Validate(); !errors.Is(err, ErrInvalidState) {
			t.Errorf("%s: Validate = %v, want ErrInvalidState", name, err)
		}
		set := &ORSet[int]{Gone: []ContextRetirement{{Replica: r, At: 2}, {Replica: r, At: 1}}}
		if err := set.Validate(); !errors.Is(err, ErrInvalidState) {
			t.Errorf("ORSet with duplicate marks: Validate = %v, want ErrInvalidState", err)
		}
	}
	c := &GCounter{Gone: []Retirement{ok}}
	if err := c.Validate(); err != nil {
		t.Fatalf("a good record: %v", err)
	}
	if got := c.Retired(); len(got) != 1 || got[0] != ok {
		t.Fatalf("Retired() = %+v", got)
	}
	if c.Value() != 2 || c.Get(r) != 5 {
		t.Fatalf("a record of 5 with 3 committed: Value %d (want 2), Get %d (want 5)", c.Value(), c.Get(r))
	}
}

// BenchmarkGCounterRetire10k measures one retirement pass over a counter
// whose 10,000 replicas all went at once (the work done under a value's
// lock), unbounded and with swarm's MaxFolds, and a read once folded.
func BenchmarkGCounterRetire10k(b *testing.B) {
	self := Replica{"self", 1}
	base := NewGCounter(self)
	base.Add(1)
	for i := range 10000 {
		o := NewGCounter(Replica{fmt.Sprintf("pod-%05d", i), 1})
		o.Add(uint64(i + 1))
		base.Merge(t0, o)
	}
	plan := RetirePlan{Gone: func(r Replica) bool { return r != self }, Folder: true, Horizon: time.Hour}
	for _, max := range []int{0, 256} {
		b.Run(fmt.Sprintf("fold/max=%d", max), func(b *testing.B) {
			p := plan
			p.MaxFolds = max
			b.ReportAllocs()
			for range b.N {
				b.StopTimer()
				c := base.Clone()
				c.loc = &local{self: self}
				b.StartTimer()
				c.Retire(t0, p)
			}
		})
	}
	folded := base.Clone()
	folded.loc = &local{self: self}
	folded.Retire(t0, plan)
	b.Run("value", func(b *testing.B) {
		for b.Loop() {
			_ = folded.Value()
		}
	})
}

// A peer's records are bounded like its slots: only records into the
// origin, under the ceiling, and a record may not raise what the receiver
// knows of a replica by more than a step.
func TestRetirementCheck(t *testing.T) {
	r, s, x := Replica{"r", 1}, Replica{"s", 1}, Replica{"x", 1}
	b := Bounds{MaxCount: 1000, MaxStep: 10, MaxReplicas: 3}
	local := NewGCounter(s)
	local.Merge(t0, &GCounter{S: []Slot{{Replica: r, N: 50}}})
	msg := func(g Retirement) *GCounter { return &GCounter{Gone: []Retirement{g}} }
	cases := []struct {
		name   string
		msg    *GCounter
		origin Replica
		want   error
	}{
		{"a fold by its origin", msg(Retirement{Replica: r, N: 55, Into: x, Gen: 1}), x, nil},
		{"into another replica", msg(Retirement{Replica: r, N: 55, Into: s, Gen: 1}), x, ErrForeignWrite},
		{"above the ceiling", msg(Retirement{Replica: r, N: 1001, Into: x}), Replica{}, ErrCountCeiling},
		{"a step too far", msg(Retirement{Replica: r, N: 61, Into: x}), x, ErrCountStep},
		{"a full state may", msg(Retirement{Replica: r, N: 61, Into: x}), Replica{}, nil},
		{"too many replicas", &GCounter{Gone: []Retirement{{Replica: Replica{"a", 1}, N: 1, Into: x}, {Replica: Replica{"b", 1}, N: 1, Into: x}, {Replica: Replica{"c", 1}, N: 1, Into: x}}}, Replica{}, ErrTooManyReplicas},
	}
	for _, c := range cases {
		err := local.Check(c.msg, c.origin, b)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: Check = %v, want %v", c.name, err, c.want)
		}
	}
	poisoned := &GCounter{Gone: []Retirement{{Replica: r, N: 1 << 60, Into: x}}}
	if n := poisoned.Sanitize(b); n != 1 || len(poisoned.Gone) != 0 {
		t.Fatalf("Sanitize dropped %d, left %+v", n, poisoned.Gone)
	}
}

// deployWorld replaces every process, one after another, every interval
// (a rolling deploy), with a sync (true views, full delivery) between two
// replacements, and returns the records node 0's successor holds after
// the given number of deploys, checking exact totals all along. A leaving
// process hands its records over to the oldest other live process when
// handOver is set, and crashes out otherwise.
func deployWorld(t *testing.T, deploys int, interval, horizon time.Duration, handOver bool) int {
	var w *retireWorld
	// The history is fixed (nothing is drawn): rapid only provides the
	// world's *rapid.T, and one run is enough.
	rapid.Check(t, func(rt *rapid.T) {
		if w != nil {
			return
		}
		w = &retireWorld{t: rt, now: t0, synced: t0, horizon: horizon}
		for i := range 3 {
			w.spawn(fmt.Sprintf("n%d", i), 1)
		}
		step := interval / 3
		for range deploys {
			for _, i := range w.live() {
				c := w.procs[i].c
				c.Add(7)
				w.total += 7
				w.spawn(c.owner().Node, c.owner().Incarnation+1)
				if handOver {
					oldest := -1
					for _, j := range w.live() {
						if j != i && (oldest < 0 || w.procs[j].c.owner().Incarnation < w.procs[oldest].c.owner().Incarnation) {
							oldest = j
						}
					}
					c.HandOver(w.procs[oldest].c.owner())
				}
				w.kill(i)
				// A purposeful leave's last flush reaches the others
				// before they learn it left (swarm flushes, then
				// announces the leave).
				for len(w.pool) > 0 {
					w.deliver(0, false)
				}
				w.now = w.now.Add(step)
				w.sync()
			}
		}
	})
	live := w.live()
	return len(w.procs[live[0]].c.Gone)
}

// Deploys that replace every replica more often than the horizon: a
// record's Into is replaced before the record settles. With the hand-over
// at a purposeful leave the records still settle, commit and are
// forgotten, so a counter holds a bounded number of them; without it
// every deploy re-homes them and they pile up, one per retired replica.
// Totals are exact either way (deployWorld checks at every sync).
func TestRetireDeploysFasterThanTheHorizon(t *testing.T) {
	const deploys = 40
	horizon := time.Minute
	with := deployWorld(t, deploys, horizon/2, horizon, true)
	without := deployWorld(t, deploys, horizon/2, horizon, false)
	t.Logf("after %d deploys every half horizon: %d records with the hand-over, %d without", deploys, with, without)
	if with > 15 {
		t.Errorf("with the hand-over a counter holds %d records after %d deploys, want at most 15 (two horizons' worth is 12)", with, deploys)
	}
	if without < deploys*3/2 {
		t.Errorf("without the hand-over a counter holds only %d records after %d deploys: the test no longer shows the pile-up", without, deploys)
	}
}

// A record into another replica is accepted from an origin only as that
// origin's hand-over of a record the receiver holds into it: same N, a
// later generation. Anything else stays a foreign write.
func TestRetirementCheckHandOver(t *testing.T) {
	r, s, x, y := Replica{"r", 1}, Replica{"s", 1}, Replica{"x", 1}, Replica{"y", 1}
	b := Bounds{MaxCount: 1000, MaxStep: 10, MaxReplicas: 8}
	local := NewGCounter(s)
	local.Merge(t0, &GCounter{Gone: []Retirement{{Replica: r, N: 50, Into: x, Gen: 3, At: 7}}})
	msg := func(g Retirement) *GCounter { return &GCounter{Gone: []Retirement{g}} }
	cases := []struct {
		name   string
		msg    *GCounter
		origin Replica
		want   error
	}{
		{"x hands its record to y", msg(Retirement{Replica: r, N: 50, Into: y, Gen: 4, At: 7}), x, nil},
		{"y hands over x's record", msg(Retirement{Replica: r, N: 50, Into: s, Gen: 4, At: 7}), y, ErrForeignWrite},
		{"a hand-over that raises N", msg(Retirement{Replica: r, N: 51, Into: y, Gen: 4, At: 7}), x, ErrForeignWrite},
		{"a hand-over of an older generation", msg(Retirement{Replica: r, N: 50, Into: y, Gen: 3, At: 7}), x, ErrForeignWrite},
		{"a record the receiver does not hold", msg(Retirement{Replica: Replica{"q", 1}, N: 5, Into: y, Gen: 1}), x, ErrForeignWrite},
	}
	for _, c := range cases {
		err := local.Check(c.msg, c.origin, b)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: Check = %v, want %v", c.name, err, c.want)
		}
	}
	// HandOver moves only the uncommitted records folded into the leaver,
	// keeping At, raising Gen.
	leaver := NewGCounter(x)
	leaver.Merge(t0, &GCounter{Gone: []Retirement{
		{Replica: Replica{"q", 1}, N: 9, A: 9, Into: x, Gen: 2, At: 5},
		{Replica: r, N: 50, Into: x, Gen: 3, At: 7},
		{Replica: Replica{"z", 1}, N: 4, Into: s, Gen: 1, At: 6},
	}})
	if !leaver.HandOver(y) {
		t.Fatal("HandOver changed nothing")
	}
	got := leaver.Retired()
	want := []Retirement{
		{Replica: Replica{"q", 1}, N: 9, A: 9, Into: x, Gen: 2, At: 5},
		{Replica: r, N: 50, Into: y, Gen: 4, At: 7},
		{Replica: Replica{"z", 1}, N: 4, Into: s, Gen: 1, At: 6},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after HandOver: %+v, want %+v", got, want)
	}
	if d, ok := leaver.Delta(); !ok || len(d.Gone) != 1 || d.Gone[0].Into != y {
		t.Fatalf("the delta after HandOver = %+v, %v: want the handed-over record", d, ok)
	}
	if leaver.HandOver(leaver.owner()) || NewGCounter(y).HandOver(x) {
		t.Fatal("a hand-over to itself, or of nothing, reported a change")
	}
}

// The tally counts the records a pass leaves, and dates the oldest one
// still settling: a fold, then its commit a horizon later, then its
// forgetting another horizon on.
// A record whose Into has left is re-homed by the folder only once Into
// is orphaned (the plan's grace after it left), not as soon as it is gone:
// its hand-over may still be on its way.
func TestRetireRehomeWaitsForOrphaned(t *testing.T) {
	const h = time.Minute
	r, a, f := Replica{"r", 1}, Replica{"a", 1}, Replica{"f", 1}
	cr, ca, cf := NewGCounter(r), NewGCounter(a), NewGCounter(f)
	cr.Add(3)
	ca.Merge(t0, cr.Clone())
	ca.Retire(t0, RetirePlan{Gone: func(x Replica) bool { return x == r }, Folder: true, Horizon: h})
	cf.Merge(t0, ca.Clone())
	into := func() Replica { return cf.Gone[0].Into }
	if len(cf.Gone) != 1 || into() != a {
		t.Fatalf("f holds %+v, want r's record into a", cf.Gone)
	}
	gone := func(x Replica) bool { return x == r || x == a }
	cf.Retire(t0.Add(time.Second), RetirePlan{Gone: gone, Orphaned: func(Replica) bool { return false }, Folder: true, Horizon: h})
	if into() != a {
		t.Fatalf("re-homed into %s before a was orphaned", into())
	}
	cf.Retire(t0.Add(2*time.Second), RetirePlan{Gone: gone, Orphaned: gone, Folder: true, Horizon: h})
	if into() != f {
		t.Fatalf("record into %s once a is orphaned, want the folder f", into())
	}
	cf.Retire(t0.Add(2*time.Second+h), RetirePlan{Gone: gone, Folder: true, Horizon: h})
	if cf.Value() != 3 {
		t.Fatalf("value %d after the commit, want 3", cf.Value())
	}
}

func TestRetireTally(t *testing.T) {
	const h = time.Minute
	r, s := Replica{"r", 1}, Replica{"s", 1}
	cr, cs := NewGCounter(r), NewGCounter(s)
	cr.Add(3)
	cs.Merge(t0, cr.Clone())
	pass := func(now time.Time) RetireTally {
		var tl RetireTally
		cs.Retire(now, RetirePlan{Gone: func(x Replica) bool { return x == r }, Folder: true, Horizon: h, Tally: &tl})
		return tl
	}
	if tl := pass(t0); tl != (RetireTally{Records: 1, Uncommitted: 1, OldestUncommitted: t0.UnixNano()}) {
		t.Fatalf("after the fold: %+v", tl)
	}
	if tl := pass(t0.Add(h / 2)); tl.Uncommitted != 1 || tl.OldestUncommitted != t0.UnixNano() {
		t.Fatalf("while settling: %+v (the fold's time must stay)", tl)
	}
	if tl := pass(t0.Add(h)); tl != (RetireTally{Records: 1}) {
		t.Fatalf("after the commit: %+v", tl)
	}
	if tl := pass(t0.Add(2 * h)); tl != (RetireTally{}) || cs.Value() != 3 {
		t.Fatalf("after forgetting: %+v, value %d", tl, cs.Value())
	}
}
