package plumtree

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// sim is a discrete-event network of Trees: messages take 1 ms ± 1 ms,
// are lost with probability loss, and never reach a killed node. It is
// the test's "real network", deterministic for a seed.
type sim struct {
	t         simT
	now       time.Time
	rnd       *rand.Rand
	nodes     map[Peer]*Tree
	dead      map[Peer]bool
	events    eventHeap
	seq       int
	loss      float64
	delivered map[Peer]map[ID]bool
	// byExchange marks the deliveries anti-entropy made: the tree may
	// still deliver such an id once (a late graft's answer; swarm's
	// merge of it is idempotent), never twice.
	byExchange map[Peer]map[ID]bool
	gossips    int // Gossip messages delivered to live nodes
	// antiEntropy, when set, makes every live node compare its delivered
	// ids with a random live peer's every second, as swarm's anti-entropy
	// does, and counts what it had to repair.
	antiEntropy bool
	repaired    int
	nextAE      time.Time
	payloads    map[ID][]byte
	ticks       map[Peer]time.Time // each node's next scheduled tick
	// trace, when set, sees every message sent, and whether the network
	// lost it.
	trace func(m Message, lost bool)
	// drop, when set, loses the messages it returns true for, on top of
	// loss.
	drop func(m Message) bool
	// lastDelivery is, per id, when its last delivery so far happened.
	lastDelivery map[ID]time.Time
}

type event struct {
	at   time.Time
	seq  int
	msg  *Message
	tick Peer
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// simConfig, when set, adjusts every node's configuration (diagnostics).
var simConfig func(*Config)

var simJitter = 2001

// simT is what the sim needs of a *testing.T or a *rapid.T.
type simT interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func newSim(t simT, n, k int, seed uint64, lazyFanout int) *sim {
	s := &sim{
		t: t, now: t0, rnd: rand.New(rand.NewPCG(seed, 1)),
		nodes: make(map[Peer]*Tree), dead: make(map[Peer]bool),
		delivered: make(map[Peer]map[ID]bool), byExchange: make(map[Peer]map[ID]bool), payloads: make(map[ID][]byte),
		ticks: make(map[Peer]time.Time), lastDelivery: make(map[ID]time.Time),
	}
	var all []Peer
	for i := range n {
		all = append(all, Peer(fmt.Sprintf("n%03d", i)))
	}
	for _, p := range all {
		cfg := DefaultConfig(p, string(p)+"/1")
		cfg.LazyFanout = lazyFanout
		if simConfig != nil {
			simConfig(&cfg)
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.nodes[p] = tr
		s.delivered[p] = make(map[ID]bool)
		s.byExchange[p] = make(map[ID]bool)
	}
	for _, p := range all {
		tr := s.nodes[p]
		tr.SetView(SampleView(nil, s.others(p), k, s.rnd.IntN))
		s.drain(p)
	}
	return s
}

func (s *sim) live() []Peer {
	var out []Peer
	for p := range s.nodes {
		if !s.dead[p] {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func (s *sim) others(self Peer) []Peer {
	var out []Peer
	for _, p := range s.live() {
		if p != self {
			out = append(out, p)
		}
	}
	return out
}

func (s *sim) push(e event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.events, e)
}

// drain sends p's ready messages and schedules its next timer.
func (s *sim) drain(p Peer) {
	tr := s.nodes[p]
	for _, m := range tr.Ready() {
		lost := s.dead[m.To] || s.rnd.Float64() < s.loss || s.drop != nil && s.drop(m)
		if s.trace != nil {
			s.trace(m, lost)
		}
		if lost {
			continue
		}
		m := m
		s.push(event{at: s.now.Add(time.Duration(s.rnd.IntN(simJitter)) * time.Microsecond), msg: &m})
	}
	// One pending tick per node: at its earliest deadline.
	if d, ok := tr.Next(); ok {
		d = maxTime(d, s.now)
		if at, set := s.ticks[p]; !set || d.Before(at) || !at.After(s.now) {
			s.ticks[p] = d
			s.push(event{at: d, tick: p})
		}
	}
}

func (s *sim) broadcast(p Peer) ID {
	payload := []byte(fmt.Sprintf("%s@%v", p, s.now))
	id := s.nodes[p].Broadcast(s.now, payload)
	s.delivered[p][id] = true
	s.payloads[id] = payload
	s.drain(p)
	return id
}

// run processes events until d has passed or nothing is left.
func (s *sim) run(d time.Duration) {
	end := s.now.Add(d)
	if s.antiEntropy && s.nextAE.IsZero() {
		s.nextAE = s.now.Add(time.Second)
	}
	for len(s.events) > 0 && !s.events[0].at.After(end) {
		e := heap.Pop(&s.events).(event)
		if s.antiEntropy && e.at.After(s.nextAE) {
			s.now = s.nextAE
			s.exchange()
			s.nextAE = s.nextAE.Add(time.Second)
		}
		s.now = e.at
		switch {
		case e.msg != nil:
			to := e.msg.To
			if s.dead[to] {
				continue
			}
			payload, ok, err := s.nodes[to].Step(s.now, *e.msg)
			if err != nil {
				s.t.Fatalf("step %s: %v", to, err)
			}
			if e.msg.Kind == Gossip {
				s.gossips++
			}
			if ok {
				if s.delivered[to][e.msg.ID] && !s.byExchange[to][e.msg.ID] {
					s.t.Fatalf("%s delivered %s twice", to, e.msg.ID)
				}
				delete(s.byExchange[to], e.msg.ID)
				if string(payload) != string(s.payloads[e.msg.ID]) {
					s.t.Fatalf("%s delivered a wrong payload for %s", to, e.msg.ID)
				}
				s.delivered[to][e.msg.ID] = true
				s.lastDelivery[e.msg.ID] = s.now
			}
			s.drain(to)
		case !s.dead[e.tick]:
			if at := s.ticks[e.tick]; !at.Equal(e.at) {
				continue // superseded by an earlier tick
			}
			delete(s.ticks, e.tick)
			s.nodes[e.tick].Tick(s.now)
			s.drain(e.tick)
		}
	}
	for s.antiEntropy && !s.nextAE.After(end) {
		s.now = s.nextAE
		s.exchange()
		s.nextAE = s.nextAE.Add(time.Second)
	}
	if s.now.Before(end) {
		s.now = end
	}
}

// exchange is the stand-in for swarm's anti-entropy: each live node
// merges its delivered ids with its successor's on a ring (both ways, as
// a push/pull does), so two rounds spread every id to every live node.
func (s *sim) exchange() {
	live := s.live()
	for i, p := range live {
		q := live[(i+1)%len(live)]
		for _, pair := range [][2]Peer{{p, q}, {q, p}} {
			for id := range s.delivered[pair[0]] {
				if !s.delivered[pair[1]][id] {
					s.delivered[pair[1]][id] = true
					s.byExchange[pair[1]][id] = true
					s.repaired++
				}
			}
		}
	}
}

// kill stops nodes at once; detect tells the survivors, as memberlist's
// failure detector does, and refreshes their views.
func (s *sim) kill(ps []Peer) {
	for _, p := range ps {
		s.dead[p] = true
	}
}

func (s *sim) detect(k int) {
	for _, p := range s.live() {
		tr := s.nodes[p]
		for d := range s.dead {
			tr.PeerDown(d)
		}
		tr.SetView(SampleView(slices.Collect(keys(tr.view)), s.others(p), k, s.rnd.IntN))
		s.drain(p)
	}
}

func keys(m map[Peer]struct{}) func(func(Peer) bool) {
	return func(yield func(Peer) bool) {
		for _, p := range sortedPeers(m) {
			if !yield(p) {
				return
			}
		}
	}
}

// connected reports whether the live nodes' neighbour links (eager or
// lazy, either end) connect them all.
func (s *sim) connected() bool {
	live := s.live()
	adj := make(map[Peer][]Peer)
	for _, p := range live {
		tr := s.nodes[p]
		for _, q := range append(tr.Eager(), tr.Lazy()...) {
			if !s.dead[q] {
				adj[p] = append(adj[p], q)
				adj[q] = append(adj[q], p)
			}
		}
	}
	seen := map[Peer]bool{live[0]: true}
	stack := []Peer{live[0]}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, q := range adj[p] {
			if !seen[q] {
				seen[q] = true
				stack = append(stack, q)
			}
		}
	}
	return len(seen) == len(live)
}

// announcers returns the live nodes that hold id and announce its
// origin's broadcasts to p (p is a lazy peer in their tree of the
// origin). A node that does not hold id has nothing to announce: when
// every push of a broadcast is lost before any node with lazy links got
// it, no node announces it, and only anti-entropy can help.
func (s *sim) announcers(p Peer, id ID) []Peer {
	var out []Peer
	for _, q := range s.live() {
		if s.delivered[q][id] && slices.Contains(s.nodes[q].LazyFor(id.Origin), p) {
			out = append(out, q)
		}
	}
	return out
}

func (s *sim) missing(id ID) []Peer {
	var out []Peer
	for _, p := range s.live() {
		if !s.delivered[p][id] {
			out = append(out, p)
		}
	}
	return out
}

// TestPropertyTreeReachesEveryNodeAndConvergesToASpanningTree: over a
// random partial-view graph, with nodes killed at once and then detected,
// the tree alone (no loss, no anti-entropy) delivers every later broadcast
// to every live node exactly once; and after two quiet broadcasts from one
// origin, its third costs exactly one Gossip per other live node: the
// eager links of its tree form a spanning tree.
func TestPropertyTreeReachesEveryNodeAndConvergesToASpanningTree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 40).Draw(t, "nodes")
		k := rapid.IntRange(2, 5).Draw(t, "fanout")
		// Announcing to every lazy peer: with LazyFanout, a node cut off
		// the eager links by concurrent prunes may hear of nothing.
		s := newSim(t, n, k, rapid.Uint64().Draw(t, "seed"), 0)
		origins := rapid.SliceOfN(rapid.IntRange(0, n-1), 1, 10).Draw(t, "origins")
		// Concurrent broadcasts from several origins while the tree forms.
		for _, o := range origins {
			s.broadcast(Peer(fmt.Sprintf("n%03d", o)))
			s.run(time.Duration(rapid.IntRange(0, 3).Draw(t, "gap")) * time.Millisecond)
		}
		s.run(time.Second)
		kills := rapid.IntRange(0, (n-1)/4).Draw(t, "kills")
		live := s.live()
		s.kill(live[len(live)-kills:])
		s.run(time.Duration(rapid.IntRange(0, 100).Draw(t, "beforeDetection")) * time.Millisecond)
		s.detect(k)
		s.run(time.Second)
		if !s.connected() {
			// A random partial view can, rarely, split a tiny cluster;
			// no dissemination protocol crosses that.
			return
		}
		live = s.live()
		var ids []ID
		for range 3 {
			ids = append(ids, s.broadcast(live[s.rnd.IntN(len(live))]))
			s.run(2 * time.Millisecond)
		}
		s.run(time.Second)
		for _, id := range ids {
			if m := s.missing(id); len(m) > 0 {
				t.Fatalf("%s missing at %v", id, m)
			}
		}
		// Quiet broadcasts from one origin, one at a time, prune what is
		// left of cycles in its tree (a new origin's first broadcast
		// floods the links).
		o := live[s.rnd.IntN(len(live))]
		for range 2 {
			s.broadcast(o)
			s.run(time.Second)
		}
		before := s.gossips
		id := s.broadcast(o)
		s.run(time.Second)
		if m := s.missing(id); len(m) > 0 {
			t.Fatalf("%s missing at %v", id, m)
		}
		if got := s.gossips - before; got != len(live)-1 {
			t.Fatalf("a broadcast over the converged tree took %d gossips for %d live nodes", got, len(live))
		}
	})
}

// TestPropertyLossIsRepairedAndAntiEntropyRarelyNeeded: with up to 10 %
// of every kind of message lost and nodes killed, every broadcast reaches
// every live node once anti-entropy (the sim's stand-in for swarm's
// digest exchange) has run, also when each broadcast is announced to
// only one or two lazy peers; and with no loss, no failure and every lazy
// peer told, anti-entropy carries nothing.
func TestPropertyLossIsRepairedAndAntiEntropyRarelyNeeded(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(3, 40).Draw(t, "nodes")
		k := rapid.IntRange(3, 5).Draw(t, "fanout")
		lazyFanout := rapid.SampledFrom([]int{0, 1, 2}).Draw(t, "lazyFanout")
		s := newSim(t, n, k, rapid.Uint64().Draw(t, "seed"), lazyFanout)
		s.loss = rapid.Float64Range(0, 0.1).Draw(t, "loss")
		s.antiEntropy = true
		kills := rapid.IntRange(0, (n-1)/4).Draw(t, "kills")
		var ids []ID
		for i := range 20 {
			live := s.live()
			ids = append(ids, s.broadcast(live[s.rnd.IntN(len(live))]))
			s.run(time.Duration(s.rnd.IntN(5)) * time.Millisecond)
			if i == 10 && kills > 0 {
				s.kill(live[len(live)-kills:])
				s.run(50 * time.Millisecond)
				s.detect(k)
			}
		}
		s.run(3 * time.Second)
		for _, id := range ids {
			origin := Peer(id.Origin[:len(id.Origin)-2])
			if s.dead[origin] {
				continue
			}
			if m := s.missing(id); len(m) > 0 {
				t.Fatalf("%s missing at %v", id, m)
			}
		}
		if s.loss == 0 && kills == 0 && lazyFanout == 0 && s.repaired > 0 {
			t.Fatalf("anti-entropy repaired %d deliveries with no loss and no failure", s.repaired)
		}
	})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestPropertyTreeAloneRepairsLossQuickly: with 2-10 % of every kind of
// message lost and no anti-entropy, the tree alone brings all but a tenth
// of the broadcasts to every node within 500 ms, and every one to every
// node a peer holding it announces to within 2 s: a lost push is grafted,
// a lost graft or answer is grafted again, and a lost announcement is
// repeated because its peer did not announce the broadcast back.
func TestPropertyTreeAloneRepairsLossQuickly(t *testing.T) {
	checkTreeAloneRepairs(t, 500*time.Millisecond, func(t *rapid.T, s *sim) {
		s.loss = rapid.Float64Range(0.02, 0.1).Draw(t, "loss")
	})
}

// TestPropertyLostAnnouncementsAreRepeated: with every first
// announcement lost (and so every answer to a repeated one), and up to
// 20 % of pushes, the tree alone still delivers every broadcast, by its
// repeated announcements: within 1 s, or within 2 s where the holders got
// it late themselves.
func TestPropertyLostAnnouncementsAreRepeated(t *testing.T) {
	checkTreeAloneRepairs(t, time.Second, func(t *rapid.T, s *sim) {
		push := rapid.Float64Range(0.05, 0.2).Draw(t, "pushLoss")
		s.drop = func(m Message) bool {
			return m.Kind == IHave && m.Round == 0 || m.Kind == Gossip && s.rnd.Float64() < push
		}
	})
}

// checkTreeAloneRepairs broadcasts 40 times, one at a time, over a
// network that faults sets up, with no anti-entropy, and requires all but
// maxSlowRepairs broadcasts at every node within bound; a node that still
// misses one after
// 1 s must have it 1 s later if a peer holding it announces to it (only
// anti-entropy helps a node that eager links alone reach).
func checkTreeAloneRepairs(t *testing.T, bound time.Duration, faults func(t *rapid.T, s *sim)) {
	eagerOnly := 0
	defer func() { t.Logf("broadcasts missed by nodes with eager links only: %d", eagerOnly) }()
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(8, 60).Draw(t, "nodes")
		k := rapid.IntRange(3, 5).Draw(t, "fanout")
		s := newSim(t, n, k, rapid.Uint64().Draw(t, "seed"), 0)
		faults(t, s)
		live := s.live()
		slow := 0
		for range 40 {
			id := s.broadcast(live[s.rnd.IntN(len(live))])
			start := s.now
			s.run(time.Second)
			if m := s.missing(id); len(m) > 0 {
				if !s.connected() {
					return // a tiny random view split the cluster
				}
				// A holder that got the broadcast late itself (a chain
				// of lost pushes, each repaired in turn: n003 and n018
				// got n015's at 0.92 s, say) has its repeats due after
				// the second: they get one more.
				var told []Peer
				for _, p := range m {
					if len(s.announcers(p, id)) > 0 {
						told = append(told, p)
					}
				}
				if len(told) > 0 {
					s.run(time.Second)
					for _, p := range told {
						if a := s.announcers(p, id); len(a) > 0 && !s.delivered[p][id] {
							t.Fatalf("%s missing at %s (announced to by %v) after 2 s", id, p, a)
						}
					}
				}
				// No node holding the broadcast announces to the
				// missing nodes: their links to holders are eager and
				// every push to them was lost (n011's four pushes of
				// its broadcast, say, while its own tree had no lazy
				// link), and only anti-entropy can help.
				eagerOnly++
				continue
			}
			if d := s.lastDelivery[id].Sub(start); d > bound {
				// A chain of losses, each repaired in turn, takes
				// longer now and then (n006's broadcast took 945 ms at
				// 10 % loss, say): a few broadcasts may, many may not.
				if slow++; slow > maxSlowRepairs {
					t.Fatalf("%d of the broadcasts so far took more than %v to reach every node (the last, %s, %v)", slow, bound, id, d)
				}
			}
		}
	})
}

// maxSlowRepairs is how many of checkTreeAloneRepairs's 40 broadcasts may
// take longer than its bound: a tenth.
const maxSlowRepairs = 4
