package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// soakParams configure a soak run: a cluster under continuous traffic,
// rolling restarts and bursts, sampled for growth.
type soakParams struct {
	Nodes       int
	Duration    time.Duration
	Warmup      time.Duration
	Restart     time.Duration // period of a rolling restart of every node; 0: none
	Burst       time.Duration // period of a burst; 0: none
	BurstValues int           // distinct counters changed by one node in a burst
	Rate        float64       // operations per second per node of each kind
	Sample      time.Duration
	Preset      string
	// RetireAfter and RetireHorizon set the nodes' Config fields (0: the
	// defaults, 1 h and 24 h): slots of restarted replicas are kept for
	// about a horizon, so a run shorter than that sees them grow.
	RetireAfter   time.Duration
	RetireHorizon time.Duration
	Bounds        map[string]float64 // metric -> largest allowed |change %|; absent: not enforced
}

// soakMetrics are the sampled quantities, in report order.
var soakMetrics = []string{"heap", "goroutines", "state", "queue", "slots", "slots_peak", "records", "uncommitted", "settling"}

var soakMetricHelp = map[string]string{
	"heap":        "live heap after a GC (bytes, the whole process)",
	"goroutines":  "goroutines in the process",
	"state":       "anti-entropy state per exchange (bytes, mean over the cluster)",
	"queue":       "gossip queue depth (messages, sum over the nodes)",
	"slots":       "counter slots over every PN counter, the most held by a node up for the catch-up time (node 0's alone before 2026-12-02)",
	"slots_peak":  "slots' most in each restart period (its samples are slots'; the fit is over period maxima)",
	"records":     "retirement records held by node 0 (over every PN counter)",
	"uncommitted": "retirement records not committed yet, at node 0's last retirement pass",
	"settling":    "seconds the oldest uncommitted record has settled, the largest over the nodes (commits happen at the horizon)",
}

// soakRow is one metric's trend after warm-up.
type soakRow struct {
	Metric  string  `json:"metric"`
	First   float64 `json:"first"`
	Last    float64 `json:"last"`
	Mean    float64 `json:"mean"`
	PerMin  float64 `json:"slope_per_min"`
	Change  float64 `json:"change_pct"` // slope × sampled span / mean
	Bound   float64 `json:"bound_pct"`  // 0: not enforced
	Within  bool    `json:"within"`
	Samples int     `json:"samples"`
	Events  string  `json:"events"` // restarts and bursts done
	Command string  `json:"command"`
}

func (r soakRow) columns() []string {
	return []string{"metric", "first", "last", "mean", "slope/min", "change", "bound", "ok"}
}

func (r soakRow) cells() []string {
	f := func(v float64) string {
		if r.Metric == "heap" || r.Metric == "state" {
			return humanBytes(v)
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	bound := "—"
	if r.Bound > 0 {
		bound = fmt.Sprintf("±%.0f %%", r.Bound)
	}
	return []string{r.Metric, f(r.First), f(r.Last), f(r.Mean), f(r.PerMin), fmt.Sprintf("%+.1f %%", r.Change), bound, fmt.Sprint(r.Within)}
}

func runSoakCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(errOut)
	p := soakParams{}
	fs.IntVar(&p.Nodes, "nodes", 10, "number of nodes")
	fs.DurationVar(&p.Duration, "duration", 30*time.Minute, "length of the run, warm-up included")
	fs.DurationVar(&p.Warmup, "warmup", 0, "samples before this are not used for the slopes (default a quarter of -duration, at most 5m)")
	fs.DurationVar(&p.Restart, "restart", time.Minute, "period of a rolling restart of every node (0: none)")
	fs.DurationVar(&p.Burst, "burst", 30*time.Second, "period of a burst (0: none)")
	fs.IntVar(&p.BurstValues, "burst-values", 5000, "distinct counters one node changes in a burst")
	fs.Float64Var(&p.Rate, "rate", 50, "operations per second per node, of each kind (counter add, map write, keyed allow)")
	fs.DurationVar(&p.Sample, "sample", 5*time.Second, "sampling period")
	fs.StringVar(&p.Preset, "preset", "local", "timings: lan, local or fast")
	fs.DurationVar(&p.RetireAfter, "retire-after", 0, "the nodes' Config.RetireAfter (0: the default, 1h)")
	fs.DurationVar(&p.RetireHorizon, "retire-horizon", 0, "the nodes' Config.RetireHorizon (0: the default, 24h); a run shorter than a horizon sees slots grow")
	bounds := fs.String("bounds", "heap=5,goroutines=5,slots=5,queue=5", "largest allowed |change| in % per metric, comma-separated metric=pct; the run fails past one")
	asJSON := fs.Bool("json", false, "print one JSON object per result on stdout")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var err error
	if p.Bounds, err = parseBounds(*bounds); err != nil {
		return err
	}
	if p.Warmup == 0 {
		p.Warmup = min(p.Duration/4, 5*time.Minute)
	}
	rows, err := runSoak(ctx, p, newProgress(errOut))
	if err != nil {
		return err
	}
	pr := &printer{w: out, json: *asJSON}
	var failed []string
	for _, r := range rows {
		if err := pr.add(r); err != nil {
			return err
		}
		if !r.Within {
			failed = append(failed, fmt.Sprintf("%s %+.1f %% (bound ±%.0f %%)", r.Metric, r.Change, r.Bound))
		}
	}
	if err := pr.flush(); err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(out, "\n%s after warm-up; %s\n%s\n", strconv.Itoa(rows[0].Samples)+" samples", rows[0].Events, rows[0].Command)
	}
	if len(failed) > 0 {
		return fmt.Errorf("soak: growth past its bound: %s", strings.Join(failed, "; "))
	}
	return nil
}

func parseBounds(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		pct, err := strconv.ParseFloat(v, 64)
		if _, known := soakMetricHelp[k]; !ok || !known || err != nil || pct < 0 {
			return nil, fmt.Errorf("%w: -bounds %q (want metric=pct with metric one of %v)", errBadFlag, kv, soakMetrics)
		}
		if pct > 0 {
			out[k] = pct
		}
	}
	return out, nil
}

func (p soakParams) validate() error {
	switch {
	case p.Nodes < 2:
		return fmt.Errorf("%w: -nodes %d (at least 2)", errBadFlag, p.Nodes)
	case p.Duration <= 0 || p.Warmup < 0 || p.Warmup >= p.Duration:
		return fmt.Errorf("%w: -duration %v, -warmup %v", errBadFlag, p.Duration, p.Warmup)
	case p.Restart < 0 || p.Burst < 0 || p.BurstValues < 0 || p.Rate < 0:
		return fmt.Errorf("%w: negative -restart, -burst, -burst-values or -rate", errBadFlag)
	case p.Sample <= 0 || p.Sample > (p.Duration-p.Warmup)/3:
		return fmt.Errorf("%w: -sample %v (need at least 3 samples after warm-up)", errBadFlag, p.Sample)
	case p.RetireAfter < 0 || p.RetireHorizon < 0:
		return fmt.Errorf("%w: negative -retire-after or -retire-horizon", errBadFlag)
	}
	_, err := presetConfig(p.Preset, "x")
	return err
}

func (p soakParams) command() string {
	var b []string
	for _, m := range soakMetrics {
		if v, ok := p.Bounds[m]; ok {
			b = append(b, fmt.Sprintf("%s=%g", m, v))
		}
	}
	retire := ""
	if p.RetireAfter > 0 {
		retire += fmt.Sprintf(" -retire-after %v", p.RetireAfter)
	}
	if p.RetireHorizon > 0 {
		retire += fmt.Sprintf(" -retire-horizon %v", p.RetireHorizon)
	}
	return fmt.Sprintf("soak -nodes %d -duration %v -warmup %v -restart %v -burst %v -burst-values %d -rate %g -sample %v -preset %s%s -bounds %s",
		p.Nodes, p.Duration, p.Warmup, p.Restart, p.Burst, p.BurstValues, p.Rate, p.Sample, p.Preset, retire, strings.Join(b, ","))
}

// soakNode is one member and its handles; a restart swaps them under mu.
type soakNode struct {
	name     string
	mu       sync.RWMutex
	node     *swarm.Node
	requests *swarm.Counter
	sessions *swarm.Map[string, int]
	limiter  *ratelimit.KeyedLimiter
	burst    []*swarm.Counter
	started  time.Time // when node last started
	// refused, superseded and early total, over the node's earlier runs,
	// the deltas it refused as origin_not_member and as
	// origin_superseded, and those it held until their origin's
	// announcement and then merged.
	refused, superseded, early atomic.Uint64
}

// tally adds the node's current run's refused and early deltas to its
// totals; the run's counters go with it.
func (s *soakNode) tally(nd *swarm.Node) {
	st := nd.Stats()
	s.refused.Add(st.Rejected["origin_not_member"])
	s.superseded.Add(st.Rejected["origin_superseded"])
	s.early.Add(st.EarlyMerged)
}

func (s *soakNode) start(p soakParams) error {
	cfg, err := presetConfig(p.Preset, s.name)
	if err != nil {
		return err
	}
	if p.RetireAfter > 0 {
		cfg.RetireAfter = p.RetireAfter
	}
	if p.RetireHorizon > 0 {
		cfg.RetireHorizon = p.RetireHorizon
	}
	nd, err := swarm.New(cfg)
	if err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	fail := func(err error) error { _ = nd.Close(); return fmt.Errorf("%s: %w", s.name, err) }
	req, err := swarm.NewCounter(nd, "soak/requests")
	if err != nil {
		return fail(err)
	}
	sess, err := swarm.NewMap[string, int](nd, "soak/sessions", crdt.LWWOptions{TombstoneTTL: 10 * time.Second})
	if err != nil {
		return fail(err)
	}
	lim, err := ratelimit.NewKeyed(nd, "soak/per-client", ratelimit.KeyedConfig{Limit: 100, Window: 10 * time.Second})
	if err != nil {
		return fail(err)
	}
	burst := make([]*swarm.Counter, p.BurstValues)
	for i := range burst {
		if burst[i], err = swarm.NewCounter(nd, fmt.Sprintf("soak/burst-%d", i)); err != nil {
			lim.Close()
			return fail(err)
		}
	}
	s.mu.Lock()
	s.node, s.requests, s.sessions, s.limiter, s.burst = nd, req, sess, lim, burst
	s.started = time.Now()
	s.mu.Unlock()
	return nil
}

func (s *soakNode) stop() {
	s.mu.Lock()
	nd, lim := s.node, s.limiter
	s.node = nil
	s.mu.Unlock()
	if nd != nil {
		lim.Close()
		_ = nd.Leave()
		s.tally(nd)
	}
}

// with calls fn with the node's handles unless it is restarting.
func (s *soakNode) with(fn func(s *soakNode)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.node != nil {
		fn(s)
	}
}

// runSoak runs the cluster for Duration and returns each metric's trend
// after warm-up.
func runSoak(ctx context.Context, p soakParams, prog *progress) ([]soakRow, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nodes := make([]*soakNode, p.Nodes)
	for i := range nodes {
		nodes[i] = &soakNode{name: fmt.Sprintf("soak-%d", i)}
		if err := nodes[i].start(p); err != nil {
			for _, s := range nodes[:i] {
				s.stop()
			}
			return nil, err
		}
		prog.update("soak: started %d/%d nodes", i+1, p.Nodes)
	}
	defer func() {
		var wg sync.WaitGroup
		for _, s := range nodes {
			wg.Add(1)
			go func() { defer wg.Done(); s.stop() }()
		}
		wg.Wait()
	}()
	if err := soakJoin(ctx, nodes, -1); err != nil {
		return nil, err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var restartErr atomic.Value
	var restarts, restartNanos, bursts, slowJoins atomic.Int64
	start := time.Now()
	wg.Add(1)
	go func() { defer wg.Done(); soakTraffic(ctx, p, nodes) }()
	if p.Burst > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, p.Burst, func(k int) {
				nodes[k%len(nodes)].with(func(s *soakNode) {
					for _, c := range s.burst {
						_ = c.Add(1)
					}
					bursts.Add(1)
				})
			})
		}()
	}
	if p.Restart > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, p.Restart, func(int) {
				for i, s := range nodes {
					if ctx.Err() != nil {
						return
					}
					began := time.Now()
					s.stop()
					stopped := time.Now()
					if err := s.start(p); err != nil {
						restartErr.Store(err)
						cancel()
						return
					}
					if err := soakJoin(ctx, nodes, i); err != nil {
						if ctx.Err() != nil {
							return
						}
						// Overloaded, not broken: the node keeps gossiping
						// with the members it reached and is sampled as it
						// is; the report counts the slow joins.
						slowJoins.Add(1)
						prog.update("soak: %s: %v", s.name, err)
					}
					restarts.Add(1)
					restartNanos.Add(int64(time.Since(began)))
					prog.update("soak: restarted %s in %v (leave %v)", s.name, time.Since(began).Round(time.Millisecond), stopped.Sub(began).Round(time.Millisecond))
				}
			})
		}()
	}

	samples := map[string][]point{}
	var ppPrev [2]uint64 // bytes, exchanges
	// A restarted node gets the values' states by the join's and the next
	// anti-entropy exchanges (at most half the restart period is skipped).
	cfg, _ := presetConfig(p.Preset, "x")
	catchUp := 2 * cfg.PushPullInterval
	if p.Restart > 0 {
		catchUp = min(catchUp, p.Restart/2)
	}
	sample := time.NewTicker(p.Sample)
	defer sample.Stop()
	for time.Since(start) < p.Duration {
		select {
		case <-ctx.Done():
			if err, ok := restartErr.Load().(error); ok {
				return nil, fmt.Errorf("soak: restart: %w", err)
			}
			return nil, ctx.Err()
		case <-sample.C:
		}
		t := time.Since(start).Seconds()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		var queue, slots, records, settling float64
		var ppBytes, ppCount uint64
		// Slots: the most any node up for catchUp holds. One node's
		// count swings with its restarts (node 0 alone read 10 or 10,010
		// in one run, as anti-entropy had refilled it or not); the
		// largest is what a node that has every value's state holds, and
		// grows if slots do.
		up, caughtUp := 0, 0
		for _, s := range nodes {
			s.with(func(s *soakNode) {
				st := s.node.Stats()
				queue += float64(st.BroadcastQueue)
				ppBytes += st.PushPullBytesSent
				ppCount += st.PushPulls
				settling = max(settling, st.Retirement.OldestUncommitted.Seconds())
				up++
				if time.Since(s.started) >= catchUp {
					sl, _ := counterSlots(s)
					slots = max(slots, float64(sl))
					caughtUp++
				}
			})
		}
		joined, settled := false, false
		var uncommitted float64
		nodes[0].with(func(s *soakNode) {
			_, rec := counterSlots(s)
			records = float64(rec)
			st := s.node.Stats()
			uncommitted = float64(st.Retirement.Uncommitted)
			joined = st.Members == len(nodes)
			settled = time.Since(s.started) >= catchUp
		})
		if up < len(nodes) || !joined || !settled || caughtUp == 0 {
			// A node is restarting, or node 0 has not heard everyone or
			// has not had the time to receive the values' states (a
			// just-restarted node 0 holds no slot): not a state to
			// compare.
			continue
		}
		add := func(m string, v float64) { samples[m] = append(samples[m], point{t, v}) }
		add("heap", float64(ms.HeapAlloc))
		add("goroutines", float64(runtime.NumGoroutine()))
		add("queue", queue)
		add("slots", slots)
		add("records", records)
		add("uncommitted", uncommitted)
		add("settling", settling)
		// Counters restart with their node, so the increments are summed
		// only while they grow.
		if ppCount > ppPrev[1] && ppBytes > ppPrev[0] {
			add("state", float64(ppBytes-ppPrev[0])/float64(ppCount-ppPrev[1]))
		}
		ppPrev = [2]uint64{ppBytes, ppCount}
		prog.update("soak: %s of %s, heap %s, %d goroutines, queue %.0f, %.0f slots, %.0f records (%.0f uncommitted, oldest settling %.0f s)",
			time.Since(start).Round(time.Second), p.Duration, humanBytes(float64(ms.HeapAlloc)), runtime.NumGoroutine(), queue, slots, records, uncommitted, settling)
	}
	cancel()
	wg.Wait()
	if err, ok := restartErr.Load().(error); ok {
		return nil, fmt.Errorf("soak: restart: %w", err)
	}
	events := fmt.Sprintf("%d restarts", restarts.Load())
	if n := restarts.Load(); n > 0 {
		events += fmt.Sprintf(" (mean %v)", (time.Duration(restartNanos.Load()) / time.Duration(n)).Round(time.Millisecond))
	}
	events += fmt.Sprintf(", %d bursts of %d values", bursts.Load(), p.BurstValues)
	if n := slowJoins.Load(); n > 0 {
		events += fmt.Sprintf(", %d restarted nodes saw not every member within 60 s", n)
	}
	var refused, superseded, early uint64
	for _, s := range nodes {
		s.with(func(s *soakNode) { s.tally(s.node) })
		refused, superseded, early = refused+s.refused.Load(), superseded+s.superseded.Load(), early+s.early.Load()
	}
	events += fmt.Sprintf(", %d deltas merged after waiting for their origin's announcement, %d refused as origin_not_member, %d as origin_superseded",
		early, refused, superseded)
	rows := make([]soakRow, 0, len(soakMetrics))
	for _, m := range soakMetrics {
		var r soakRow
		if m == "slots_peak" {
			// slots' envelope: fitted over the most of each restart
			// period, not the means. Slots swing by design with the
			// retirement phase (a restarted replica's slot becomes a
			// record, which commits at the horizon), so a period's mean
			// depends on where restarts and commits fall; a leak raises
			// every peak. How many replicas' slots overlap before they
			// are folded varies (two to three per counter in soak run
			// 11), so it is reported, not bounded by default.
			r = peakTrend(samples["slots"], p.Warmup.Seconds(), p.Restart.Seconds())
		} else {
			r = trend(samples[m], p.Warmup.Seconds(), p.Restart.Seconds())
		}
		r.Events = events
		r.Metric, r.Command = m, "go run ./internal/cmd/shoalbench "+p.command()
		r.Bound = p.Bounds[m]
		r.Within = r.Bound == 0 || (r.Samples >= 3 && abs(r.Change) <= r.Bound)
		rows = append(rows, r)
	}
	prog.done("soak: done after %s", time.Since(start).Round(time.Second))
	return rows, nil
}

// counterSlots counts the slots and the retirement records (P and N) of
// every PN counter s holds.
func counterSlots(s *soakNode) (slots, records int) {
	for _, c := range append([]*swarm.Counter{s.requests}, s.burst...) {
		_ = c.Shared().Read(func(v *crdt.PNCounter) {
			slots += len(v.P.Slots()) + len(v.N.Slots())
			records += len(v.P.Gone) + len(v.N.Gone)
		})
	}
	return slots, records
}

// soakTraffic makes Rate operations of each kind per second on every node
// until ctx ends: a counter add, a map write (a delete one time in four,
// so tombstones come and go), and a keyed-limiter decision.
func soakTraffic(ctx context.Context, p soakParams, nodes []*soakNode) {
	if p.Rate == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const tick = 10 * time.Millisecond
	perTick := p.Rate * tick.Seconds()
	owed := 0.0
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		owed += perTick
		for ; owed >= 1; owed-- {
			for _, s := range nodes {
				s.with(func(s *soakNode) {
					_ = s.requests.Add(1)
					key := "session-" + strconv.Itoa(rng.IntN(1000))
					if rng.IntN(4) == 0 {
						_ = s.sessions.Delete(key)
					} else {
						_ = s.sessions.Set(key, rng.Int())
					}
					s.limiter.AllowN(time.Now(), "client-"+strconv.Itoa(rng.IntN(500)), 1)
				})
			}
		}
	}
}

// soakJoin joins node i (every node when i < 0) to the others and waits
// until it sees them all.
func soakJoin(ctx context.Context, nodes []*soakNode, i int) error {
	var addrs []string
	for _, s := range nodes {
		s.with(func(s *soakNode) { addrs = append(addrs, s.node.Addr()) })
	}
	targets := nodes
	if i >= 0 {
		targets = nodes[i : i+1]
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		short := 0
		for _, s := range targets {
			s.with(func(s *soakNode) {
				if s.node.Stats().Members < len(nodes) {
					short++
					jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					_, _ = s.node.Join(jctx, addrs...)
					cancel()
				}
			})
		}
		if short == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d nodes do not see all %d members after 60 s", short, len(nodes))
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// every calls fn(k) every period (k = 0, 1, ...) until ctx ends.
func every(ctx context.Context, period time.Duration, fn func(k int)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for k := 0; ; k++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(k)
		}
	}
}

type point struct{ t, v float64 }

// trend fits a line (least squares) to the samples after warmup seconds:
// the slope per minute, and the change it amounts to over the sampled span
// relative to the mean. With a period (the rolling restart's), the fit is
// to the means of whole periods from the warm-up on: a quantity that rises
// and falls with every restart (the slots of just-restarted replicas,
// until they are folded) would otherwise show a slope that depends only on
// where in the cycle the run ends. First, Last and Mean are of the samples
// themselves.
func trend(ps []point, warmup, period float64) soakRow {
	use := after(ps, warmup)
	r := soakRow{Samples: len(use)}
	if len(use) < 2 {
		return r
	}
	fit := use
	if cycles := periods(use, warmup, period, false); len(cycles) >= 2 {
		fit = cycles
	}
	return fitRow(r, use, fit)
}

// peakTrend is trend over the most of each whole period: the envelope of a
// quantity that swings within a period. First, Last and Mean are of the
// period maxima. Without two whole periods it is trend.
func peakTrend(ps []point, warmup, period float64) soakRow {
	use := after(ps, warmup)
	peaks := periods(use, warmup, period, true)
	if len(peaks) < 2 {
		return trend(ps, warmup, period)
	}
	return fitRow(soakRow{Samples: len(use)}, peaks, peaks)
}

func after(ps []point, warmup float64) []point {
	var use []point
	for _, p := range ps {
		if p.t >= warmup {
			use = append(use, p)
		}
	}
	return use
}

// fitRow fills r from the slope of fit, relative to the mean of use.
func fitRow(r soakRow, use, fit []point) soakRow {
	slope := slopeOf(fit)
	var sv float64
	for _, p := range use {
		sv += p.v
	}
	mv := sv / float64(len(use))
	span := use[len(use)-1].t - use[0].t
	r.First, r.Last, r.Mean, r.PerMin = use[0].v, use[len(use)-1].v, mv, slope*60
	if mv != 0 {
		r.Change = slope * span / abs(mv) * 100
	} else if slope != 0 {
		r.Change = 100
	}
	return r
}

// periods returns one point per whole period from start on, at the mean
// time of the period's samples and their mean value (or their most, with
// peak); none without a period.
func periods(ps []point, start, period float64, peak bool) []point {
	if period <= 0 || len(ps) == 0 {
		return nil
	}
	end := ps[len(ps)-1].t
	var out []point
	var st, sv, n float64
	top := math.Inf(-1)
	k := 0
	flush := func() {
		if n > 0 {
			v := sv / n
			if peak {
				v = top
			}
			out = append(out, point{st / n, v})
		}
		st, sv, top, n = 0, 0, math.Inf(-1), 0
	}
	for _, p := range ps {
		for p.t >= start+float64(k+1)*period {
			flush()
			k++
		}
		if start+float64(k+1)*period > end {
			break // the last, partial period
		}
		st, sv, top, n = st+p.t, sv+p.v, max(top, p.v), n+1
	}
	flush()
	return out
}

// slopeOf is the least-squares slope of v against t.
func slopeOf(ps []point) float64 {
	var st, sv float64
	for _, p := range ps {
		st += p.t
		sv += p.v
	}
	n := float64(len(ps))
	mt, mv := st/n, sv/n
	var cov, vt float64
	for _, p := range ps {
		cov += (p.t - mt) * (p.v - mv)
		vt += (p.t - mt) * (p.t - mt)
	}
	if vt == 0 {
		return 0
	}
	return cov / vt
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
