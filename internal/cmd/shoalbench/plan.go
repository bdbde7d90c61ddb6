package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shoal-go/shoal/internal/bench/ratelimitbench"
)

// reportPlan is the set of runs the report makes.
type reportPlan struct {
	Convergence []convergenceParams
	Traffic     []trafficParams
	Scale       []scaleParams
	Ratelimit   []ratelimitbench.Params
	AntiEntropy []antiEntropyParams
}

// fullPlan is the report's standard set, sized for a 2-core machine
// (about 20 minutes).
func fullPlan() reportPlan {
	var p reportPlan
	loop := network{Transport: "loopback"}
	for _, n := range []int{10, 50} {
		for _, preset := range []string{"lan", "local", "fast"} {
			p.Convergence = append(p.Convergence, convergenceParams{
				Nodes: n, Updates: 100, Preset: preset, Net: loop, Timeout: 10 * time.Second, RefTimeout: 5 * time.Second, Reference: true,
			})
		}
	}
	lossy := network{Transport: "sim", Drop: 0.2, Delay: time.Millisecond, Jitter: 4 * time.Millisecond, Seed: 1}
	for _, preset := range []string{"fast", "local"} {
		p.Convergence = append(p.Convergence, convergenceParams{
			Nodes: 50, Updates: 100, Preset: preset, Net: lossy, Timeout: 60 * time.Second, RefTimeout: 5 * time.Second, Reference: true,
		})
	}
	// Past the fast path (64): the broadcast tree, on the simulated
	// network with 1 ms ± 1 ms one-way delay; the p99-by-nodes plot.
	wan := network{Transport: "sim", Delay: time.Millisecond, Jitter: time.Millisecond, Seed: 1}
	for _, n := range []int{64, 100, 200, 500} {
		p.Convergence = append(p.Convergence, convergenceParams{
			Nodes: n, Updates: 30, Preset: "fast", Net: wan, Timeout: 60 * time.Second, RefTimeout: 5 * time.Second, Reference: true,
		})
	}
	lossy500 := wan
	lossy500.Drop = 0.05
	p.Convergence = append(p.Convergence, convergenceParams{
		Nodes: 500, Updates: 30, Preset: "fast", Net: lossy500, Timeout: 60 * time.Second, RefTimeout: 5 * time.Second, Reference: true,
	})
	for _, rate := range []float64{0, 100, 1000, 10000} {
		p.Traffic = append(p.Traffic, trafficParams{Nodes: 10, Rate: rate, Keys: 1, Duration: 10 * time.Second, Writers: "one", Preset: "fast", Net: loop})
	}
	p.Traffic = append(p.Traffic,
		trafficParams{Nodes: 10, Rate: 10000, Keys: 100, Duration: 10 * time.Second, Writers: "all", Preset: "fast", Net: loop},
		trafficParams{Nodes: 50, Rate: 100, Keys: 1, Duration: 10 * time.Second, Writers: "one", Preset: "fast", Net: loop},
		trafficParams{Nodes: 50, Rate: 10000, Keys: 1, Duration: 10 * time.Second, Writers: "one", Preset: "fast", Net: loop},
		trafficParams{Nodes: 50, Rate: 10000, Keys: 1, Duration: 10 * time.Second, Writers: "one", Preset: "lan", Net: loop},
	)
	p.Scale = []scaleParams{
		{Nodes: 500, Updates: 5, Preset: "scale", Net: network{Transport: "sim", Seed: 1}, Timeout: 60 * time.Second, DirectMax: -1, Warmup: 1},
		// 10 % killed at once, 5 % loss: updates must reach every live node.
		{Nodes: 200, Updates: 10, Preset: "scale", Net: network{Transport: "sim", Drop: 0.05, Seed: 1}, Timeout: 60 * time.Second, Kill: 0.1, DirectMax: -1, Warmup: 1},
		{Nodes: 500, Updates: 10, Preset: "scale", Net: network{Transport: "sim", Seed: 1}, Timeout: 60 * time.Second, Kill: 0.1, DirectMax: -1, Warmup: 1},
	}
	p.AntiEntropy = []antiEntropyParams{{Nodes: 2, Values: 100_000, Replicas: 10, PushPull: 5 * time.Second, Timeout: 120 * time.Second}}
	base := ratelimitbench.Params{Nodes: 10, Limit: 1000, Window: 10 * time.Second, Duration: 60 * time.Second, Offered: 2}
	shoal, redis := base, base
	shoal.Backend, redis.Backend = ratelimitbench.BackendShoal, ratelimitbench.BackendRedis
	skewed := shoal
	skewed.Skew = 0.8
	short := shoal
	short.Window, short.Duration = time.Second, 30*time.Second
	lua := base
	lua.Backend = ratelimitbench.BackendRedisLua
	p.Ratelimit = []ratelimitbench.Params{shoal, redis, lua, skewed, short}
	// Issue 14's keyed scenarios, each next to both Redis baselines.
	for _, k := range []ratelimitbench.Params{
		{Nodes: 1, Duration: 40 * time.Second, Offered: 4, Keyed: &ratelimitbench.KeyedParams{Keys: 1, Limit: 5, Window: 10 * time.Second, Dist: ratelimitbench.DistEven}},
		{Nodes: 3, Duration: 40 * time.Second, Offered: 4, Keyed: &ratelimitbench.KeyedParams{Keys: 1, Limit: 5, Window: 10 * time.Second, Dist: ratelimitbench.DistEven}},
		{Nodes: 3, Duration: 40 * time.Second, Offered: 2, Keyed: &ratelimitbench.KeyedParams{Keys: 300, Limit: 20, Window: 10 * time.Second, Dist: ratelimitbench.DistEven}},
		{Nodes: 10, Duration: 120 * time.Second, Offered: 2, Keyed: &ratelimitbench.KeyedParams{}},
	} {
		for _, b := range []string{ratelimitbench.BackendShoal, ratelimitbench.BackendRedis, ratelimitbench.BackendRedisLua} {
			q := k
			q.Backend = b
			kp := *k.Keyed
			q.Keyed = &kp
			p.Ratelimit = append(p.Ratelimit, q)
		}
	}
	return p
}

// quickPlan is a short version of every part, for the CI smoke test.
func quickPlan() reportPlan {
	var p reportPlan
	loop := network{Transport: "loopback"}
	for _, preset := range []string{"local", "fast"} {
		p.Convergence = append(p.Convergence, convergenceParams{
			Nodes: 3, Updates: 5, Preset: preset, Net: loop, Timeout: 10 * time.Second, RefTimeout: 5 * time.Second, Reference: preset == "local",
		})
	}
	p.Convergence = append(p.Convergence, convergenceParams{
		Nodes: 3, Updates: 3, Preset: "fast", Net: network{Transport: "sim", Drop: 0.2, Seed: 1}, Timeout: 30 * time.Second,
	})
	for _, rate := range []float64{100, 1000} {
		p.Traffic = append(p.Traffic, trafficParams{Nodes: 3, Rate: rate, Keys: 1, Duration: time.Second, Writers: "one", Preset: "fast", Net: loop})
	}
	p.Scale = []scaleParams{{Nodes: 20, Updates: 1, Preset: "scale", Net: network{Transport: "sim", Seed: 1}, Timeout: 30 * time.Second, DirectMax: -1, Warmup: 1}}
	p.AntiEntropy = []antiEntropyParams{{Nodes: 2, Values: 500, Replicas: 3, PushPull: 300 * time.Millisecond, Timeout: 30 * time.Second}}
	p.Ratelimit = []ratelimitbench.Params{{Backend: ratelimitbench.BackendShoal, Nodes: 3, Limit: 100, Window: time.Second, Duration: 2 * time.Second, Offered: 2}}
	return p
}

// The command lines that reproduce one run of the report.

func (p convergenceParams) command() string {
	s := fmt.Sprintf("convergence -nodes %d -updates %d -preset %s", p.Nodes, p.Updates, p.Preset)
	s += p.Net.flags()
	if p.Timeout != 10*time.Second {
		s += fmt.Sprintf(" -timeout %v", p.Timeout)
	}
	if p.Idle > 0 {
		s += fmt.Sprintf(" -idle %v", p.Idle)
	}
	if p.Settle {
		s += " -settle"
	}
	s += p.Detection.flags()
	if !p.Reference {
		s += " -noref"
	} else if p.RefTimeout != 5*time.Second {
		s += fmt.Sprintf(" -reftimeout %v", p.RefTimeout)
	}
	return s
}

func (nw network) flags() string {
	if nw.Transport != "sim" {
		return ""
	}
	s := " -transport sim"
	if nw.Drop != 0 {
		s += fmt.Sprintf(" -drop %g", nw.Drop)
	}
	if nw.Delay != 0 {
		s += fmt.Sprintf(" -delay %v", nw.Delay)
	}
	if nw.Jitter != 0 {
		s += fmt.Sprintf(" -jitter %v", nw.Jitter)
	}
	return s
}

func (p trafficParams) command() string {
	return fmt.Sprintf("traffic -nodes %d -rate %g -keys %d -duration %v -writers %s -preset %s%s",
		p.Nodes, p.Rate, p.Keys, p.Duration, p.Writers, p.Preset, p.Net.flags())
}

func (p scaleParams) command() string {
	s := fmt.Sprintf("scale -nodes %d -updates %d -preset %s%s", p.Nodes, p.Updates, p.Preset, p.Net.flags())
	if p.Kill > 0 {
		s += fmt.Sprintf(" -kill %g", p.Kill)
	}
	if p.Idle > 0 {
		s += fmt.Sprintf(" -idle %v", p.Idle)
	}
	if p.TreeFanout > 0 {
		s += fmt.Sprintf(" -tree-fanout %d", p.TreeFanout)
	}
	if p.DirectMax >= 0 {
		s += fmt.Sprintf(" -direct-max %d", p.DirectMax)
	}
	if p.Warmup != 1 {
		s += fmt.Sprintf(" -warmup %d", p.Warmup)
	}
	return s + p.Detection.flags()
}

func ratelimitCommand(p ratelimitbench.Params) string {
	s := fmt.Sprintf("ratelimit -backend %s -nodes %d -limit %d -window %v -duration %v -offered %g",
		p.Backend, p.Nodes, p.Limit, p.Window, p.Duration, p.Offered)
	if p.Skew != 0 {
		s += fmt.Sprintf(" -skew %g", p.Skew)
	}
	if p.Churn {
		s += " -churn"
	}
	if k := p.Keyed; k != nil {
		s += " -keyed"
		if k.Keys != 0 {
			s += fmt.Sprintf(" -keys %d", k.Keys)
		}
		if k.Limit != 0 {
			s += fmt.Sprintf(" -key-limit %d", k.Limit)
		}
		if k.Window != 0 {
			s += fmt.Sprintf(" -key-window %v", k.Window)
		}
		if k.Rate != 0 {
			s += fmt.Sprintf(" -key-rate %g", k.Rate)
		}
		if k.Dist != "" {
			s += " -key-dist " + k.Dist
		}
		if k.ZipfS != 0 {
			s += fmt.Sprintf(" -zipf-s %g", k.ZipfS)
		}
	}
	return s
}

// nodeCounts returns the distinct node counts of loopback convergence
// runs, ascending.
func nodeCounts(rs []convergenceResult) []int {
	seen := map[int]bool{}
	var ns []int
	for _, r := range rs {
		if r.Transport == "loopback" && !seen[r.Nodes] {
			seen[r.Nodes] = true
			ns = append(ns, r.Nodes)
		}
	}
	sort.Ints(ns)
	return ns
}

// mdTable renders rows as a Markdown table.
func mdTable(rows []result) string {
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	cols := rows[0].columns()
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n|")
	for range cols {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r.cells(), " | ") + " |\n")
	}
	return b.String()
}

func (p antiEntropyParams) command() string {
	return fmt.Sprintf("antientropy -nodes %d -values %d -replicas %d -pushpull %v", p.Nodes, p.Values, p.Replicas, p.PushPull)
}
