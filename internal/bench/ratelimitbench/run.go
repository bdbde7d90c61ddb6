package ratelimitbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"github.com/shoal-go/shoal/discovery"
	"github.com/shoal-go/shoal/swarm"
)

// instance is one limiter under test: a shoal node with its limiter, or a
// client of the shared redis-server.
type instance struct {
	name  string
	node  *swarm.Node // nil for redis
	allow func(now time.Time, key int) bool
	close func()
}

// event is one offered request and whether it was admitted.
type event struct {
	t       int64
	key     int32
	allowed bool
}

// loader offers load to one instance until stopped.
type loader struct {
	inst *instance
	rate float64 // requests per second
	// phase delays the first request: the nodes of an even keyed load
	// take turns instead of offering at the same instant.
	phase time.Duration
	keys  *rand.Zipf
	// even, when set, offers key next, next+1, … (mod the key count).
	even       bool
	next, nkey int
	batchKeys  []int
	batchOK    []bool
	events     []event
	costs      []float64 // mean ns per decision of each batch
	stall      time.Duration
	stop       chan struct{}
	done       chan struct{}
}

// Run runs one scenario and returns what it measured. progress (may be
// nil) receives a line per phase. A redis scenario without a redis-server
// returns a Result with Skipped set and no error.
func Run(ctx context.Context, p Params, progress io.Writer) (Result, error) {
	p, err := p.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	res := Result{Backend: p.Backend, Params: p}
	var mk func(i int, name string) (*instance, error)
	switch p.Backend {
	case BackendRedis, BackendRedisLua:
		bin, err := exec.LookPath(p.RedisServer)
		if err != nil {
			res.Skipped = fmt.Sprintf("redis baseline skipped: %s not found (apt-get install -y redis-server)", p.RedisServer)
			fmt.Fprintln(progress, res.Skipped)
			return res, nil
		}
		srv, err := startRedis(ctx, bin)
		if err != nil {
			return res, err
		}
		defer srv.stop()
		mk = func(i int, name string) (*instance, error) {
			if p.Backend == BackendRedisLua {
				return newRedisLuaInstance(srv.addr, name, p)
			}
			return newRedisInstance(srv.addr, name, p)
		}
	case BackendSkipperClassic:
		reg := discovery.NewFakeRegistry()
		mk = func(i int, name string) (*instance, error) { return newSkipperClassicInstance(name, reg, p) }
	default:
		// Each node joins the first and two random earlier ones, as a
		// discovery source would give it several peers: a hundred joins
		// of one seed on a loaded machine time out.
		var addrs []string
		mk = func(i int, name string) (*instance, error) {
			var seeds []string
			if len(addrs) > 0 {
				seeds = append(seeds, addrs[0], addrs[rand.IntN(len(addrs))], addrs[rand.IntN(len(addrs))])
			}
			in, err := newShoalInstance(ctx, name, seeds, p)
			if err == nil {
				addrs = append(addrs, in.node.Addr())
			}
			return in, err
		}
	}

	var insts []*instance
	defer func() {
		for _, in := range insts {
			in.close()
		}
	}()
	for i := range p.Nodes {
		in, err := mk(i, fmt.Sprintf("node-%d", i))
		if err != nil {
			return res, err
		}
		insts = append(insts, in)
	}
	if p.Backend != BackendRedis && p.Backend != BackendRedisLua {
		if err := waitMembers(ctx, insts, p.Nodes); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(progress, "%s: %d nodes up; offering %.1f×%d per %v for %v (skew %.2f, churn %v, keyed %v)\n",
		p.Backend, p.Nodes, p.Offered, p.Limit, p.Window, p.Duration, p.Skew, p.Churn, p.Keyed != nil)

	bytes0 := wireBytes(insts)
	snap0 := snapshot(insts)
	cpu0 := cpuTime()
	start := time.Now()
	end := start.Add(p.Duration)
	var loaders []*loader
	startLoad := func(in *instance, i int) *loader {
		rate := p.Offered * float64(p.Limit) / p.Window.Seconds() * p.share(i, p.Nodes)
		l := &loader{inst: in, rate: rate, stop: make(chan struct{}), done: make(chan struct{})}
		if p.Keyed == nil && rate > 0 {
			// Node i offers a 1/N turn after node i−1, so the cluster's
			// requests come evenly spaced, as independent clients' do.
			// In lockstep (every node at the same instants, 100 nodes at
			// 2/s) they came in cohorts of N every 500 ms, and with a
			// 10 s window, 20 periods exactly, each cohort met the room
			// its predecessor of one window before freed still held by
			// the oldest bucket (counted in full, up to W/B after it
			// left): the room waited a whole period, and the limit
			// admitted 0.95·L on average (1000 and 900 in turn).
			l.phase = time.Duration(float64(time.Second) / rate * float64(i) / float64(p.Nodes))
		}
		if k := p.Keyed; k != nil {
			rate = k.Rate
			l.rate = rate
			switch k.Dist {
			case DistEven:
				// Node i starts at key i·Keys/N and a 1/N turn later, so
				// each key's requests come from the nodes in turn.
				l.even, l.nkey = true, k.Keys
				l.next = i * k.Keys / p.Nodes
				l.phase = time.Duration(float64(time.Second) / rate * float64(i) / float64(p.Nodes))
			default:
				l.keys = rand.NewZipf(rand.New(rand.NewPCG(uint64(i), 7)), k.ZipfS, 1, uint64(k.Keys-1))
			}
		}
		loaders = append(loaders, l)
		go l.run(end)
		return l
	}
	for i, in := range insts {
		startLoad(in, i)
	}

	var churnErr error
	if p.Churn {
		churnErr = churn(ctx, p, start, &insts, loaders[len(loaders)-1], mk, startLoad, progress)
	}
	for _, l := range loaders {
		select {
		case <-l.done:
		case <-ctx.Done():
			for _, l := range loaders {
				l.halt()
			}
			return res, ctx.Err()
		}
	}
	elapsed := time.Since(start)
	res.CPUPerNode = (cpuTime() - cpu0).Seconds() / elapsed.Seconds() / float64(p.Nodes)
	if p.Backend != BackendRedis {
		res.WireBytesPerSecPerNode = float64(wireBytes(insts)-bytes0) / elapsed.Seconds() / float64(p.Nodes)
		snapshot(insts).since(snap0, &res, elapsed, p.Nodes)
	}
	if churnErr != nil {
		return res, churnErr
	}
	evaluate(&res, p, start, end, loaders)
	fmt.Fprintf(progress, "%s: ratio mean %.3f worst %.3f min %.3f, allow p50 %.0f ns, %.0f B/s per node, longest stall %.0f ms\n",
		p.Backend, res.AdmittedRatioMean, res.AdmittedRatioWorst, res.AdmittedRatioMin, res.AllowNsP50, res.WireBytesPerSecPerNode, res.MaxStallMs)
	return res, nil
}

// churn kills the last instance at a third of the run and starts a new
// one at half, which takes over the load of the killed one.
func churn(ctx context.Context, p Params, start time.Time, insts *[]*instance, victim *loader,
	mk func(int, string) (*instance, error), startLoad func(*instance, int) *loader, progress io.Writer) error {
	if !sleepUntil(ctx, start.Add(p.Duration/3)) {
		return ctx.Err()
	}
	victim.halt()
	victim.inst.close()
	fmt.Fprintf(progress, "churn: %s killed at %v\n", victim.inst.name, time.Since(start).Round(time.Millisecond))
	if !sleepUntil(ctx, start.Add(p.Duration/2)) {
		return ctx.Err()
	}
	in, err := mk(p.Nodes, fmt.Sprintf("node-%d", p.Nodes))
	if err != nil {
		return err
	}
	*insts = append(*insts, in)
	startLoad(in, p.Nodes-1)
	fmt.Fprintf(progress, "churn: %s added at %v\n", in.name, time.Since(start).Round(time.Millisecond))
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// run paces the load: every 2 ms it offers the requests due by then, in
// one batch stamped with one instant, and records each decision. Only
// the decisions are timed: the batch's keys are drawn before, the events
// recorded after.
func (l *loader) run(end time.Time) {
	defer close(l.done)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	begin := time.Now().Add(l.phase)
	last := begin
	sent := 0
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		l.stall = max(l.stall, now.Sub(last))
		last = now
		if now.After(end) {
			return
		}
		due := int(l.rate*now.Sub(begin).Seconds()) - sent
		if due <= 0 {
			continue
		}
		ns := now.UnixNano()
		keys, oks := l.batchKeys[:0], l.batchOK[:0]
		for range due {
			key := 0
			switch {
			case l.keys != nil:
				key = int(l.keys.Uint64())
			case l.even:
				key = l.next
				l.next = (l.next + 1) % l.nkey
			}
			keys = append(keys, key)
		}
		oks = slices.Grow(oks, len(keys))[:len(keys)]
		t0 := time.Now()
		for j, key := range keys {
			oks[j] = l.inst.allow(now, key)
		}
		l.costs = append(l.costs, float64(time.Since(t0).Nanoseconds())/float64(due))
		for j, key := range keys {
			l.events = append(l.events, event{t: ns, key: int32(key), allowed: oks[j]})
		}
		l.batchKeys, l.batchOK = keys, oks
		sent += due
	}
}

func (l *loader) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

func waitMembers(ctx context.Context, insts []*instance, want int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, in := range insts {
			if in.node.Stats().Members != want {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("ratelimitbench: nodes did not see each other within 30 s")
		}
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// nodeSnapshot is the nodes' counters at one instant, summed.
type nodeSnapshot struct {
	sent       map[string]uint64
	sentMsgs   map[string]uint64
	drops      map[string]uint64
	tree       TreeSummary
	nodes      int
	eager      float64
	lazy       float64
	membersMin int
}

func snapshot(insts []*instance) nodeSnapshot {
	s := nodeSnapshot{sent: map[string]uint64{}, sentMsgs: map[string]uint64{}, drops: map[string]uint64{}, membersMin: -1}
	for _, in := range insts {
		if in.node == nil || in.node.Closed() {
			continue
		}
		st := in.node.Stats()
		for k, tr := range st.Sent {
			s.sent[k] += tr.Bytes
			s.sentMsgs[k] += tr.Messages
		}
		for k, d := range st.Drops {
			s.drops[k] += d
		}
		t := st.Tree
		s.tree.Broadcasts += t.Broadcasts
		s.tree.Delivered += t.Delivered
		s.tree.Duplicates += t.Duplicates
		s.tree.Grafts += t.Grafts
		s.tree.GiveUps += t.GraftGiveUps
		s.tree.Reannounced += t.Reannounced
		s.eager += t.Eager
		s.lazy += t.Lazy
		s.nodes++
		if s.membersMin < 0 || st.Members < s.membersMin {
			s.membersMin = st.Members
		}
	}
	return s
}

// since fills res with what the nodes did between s0 and s.
func (s nodeSnapshot) since(s0 nodeSnapshot, res *Result, elapsed time.Duration, nodes int) {
	res.SentBytesByKind = map[string]float64{}
	for k, d := range s.drops {
		if d > s0.drops[k] {
			if res.Drops == nil {
				res.Drops = map[string]uint64{}
			}
			res.Drops[k] = d - s0.drops[k]
		}
	}
	for k, b := range s.sent {
		res.SentBytesByKind[k] = float64(b-s0.sent[k]) / elapsed.Seconds() / float64(nodes)
		if m := s.sentMsgs[k] - s0.sentMsgs[k]; m > 0 {
			if res.SentMessageBytes == nil {
				res.SentMessageBytes = map[string]float64{}
			}
			res.SentMessageBytes[k] = float64(b-s0.sent[k]) / float64(m)
		}
	}
	if s.tree.Broadcasts == 0 && s.tree.Delivered == 0 {
		return
	}
	t := TreeSummary{
		Broadcasts:  s.tree.Broadcasts - s0.tree.Broadcasts,
		Delivered:   s.tree.Delivered - s0.tree.Delivered,
		Duplicates:  s.tree.Duplicates - s0.tree.Duplicates,
		Grafts:      s.tree.Grafts - s0.tree.Grafts,
		GiveUps:     s.tree.GiveUps - s0.tree.GiveUps,
		Reannounced: s.tree.Reannounced - s0.tree.Reannounced,
		MembersMin:  s.membersMin,
	}
	if s.nodes > 0 {
		t.EagerMean = float64(s.eager) / float64(s.nodes)
		t.LazyMean = float64(s.lazy) / float64(s.nodes)
	}
	res.Tree = &t
}

func wireBytes(insts []*instance) uint64 {
	var b uint64
	for _, in := range insts {
		if in.node != nil && !in.node.Closed() {
			b += in.node.Stats().WireBytesSent
		}
	}
	return b
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
