package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// memberlist's Shutdown does not wait for an in-flight probe (see
	// swarm's TestMain); everything shoal and this program start is joined.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// runJSON runs the program with args (plus -json) and decodes its results.
func runJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	// More than scale's settle waits at most (2 minutes) plus the run: the
	// tests run in parallel, and settle waits for a quiet process.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, append(args, "-json"), &out, &errOut); err != nil {
		t.Fatalf("run %v: %v\nstderr:\n%s", args, err, errOut.String())
	}
	var results []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("run %v: line %q is not JSON: %v", args, line, err)
		}
		results = append(results, r)
	}
	return results
}

func num(t *testing.T, r map[string]any, key string) float64 {
	t.Helper()
	f, ok := r[key].(float64)
	if !ok {
		t.Fatalf("field %s = %v (%T), want a number in %v", key, r[key], r[key], r)
	}
	return f
}

func TestConvergenceJSON(t *testing.T) {
	t.Parallel()
	rs := runJSON(t, "convergence", "-nodes", "3", "-updates", "4", "-preset", "local", "-settle")
	if len(rs) != 2 {
		t.Fatalf("got %d results, want shoal and the reference: %v", len(rs), rs)
	}
	for i, system := range []string{"shoal", "memberlist-relay"} {
		r := rs[i]
		if r["scenario"] != "convergence" || r["system"] != system || r["transport"] != "loopback" {
			t.Errorf("result %d = %v, want convergence/%s/loopback", i, r, system)
		}
		if r["converged"] != true || num(t, r, "missed") != 0 {
			t.Errorf("%s did not converge: %v", system, r)
		}
		if n := num(t, r, "nodes"); n != 3 {
			t.Errorf("%s nodes = %v, want 3", system, n)
		}
		p50, p99, mx := num(t, r, "p50_ms"), num(t, r, "p99_ms"), num(t, r, "max_ms")
		if !(p50 > 0 && p50 <= p99 && p99 <= mx && mx < 10_000) {
			t.Errorf("%s latencies p50 %v p99 %v max %v are not ordered within the timeout", system, p50, p99, mx)
		}
		if b := num(t, r, "bytes_per_node_per_s"); b <= 0 {
			t.Errorf("%s bytes_per_node_per_s = %v, want > 0", system, b)
		}
		if s := num(t, r, "settle_s"); s < 4 {
			t.Errorf("%s settle_s = %v, want at least two 2-s windows", system, s)
		}
		if per, _ := r["per_update"].([]any); len(per) != 4 || num(t, per[0].(map[string]any), "latency_ms") <= 0 {
			t.Errorf("%s per_update = %v, want the 4 updates timed", system, r["per_update"])
		}
	}
}

func TestConvergenceSimWithLoss(t *testing.T) {
	t.Parallel()
	rs := runJSON(t, "convergence", "-nodes", "3", "-updates", "3", "-transport", "sim", "-drop", "0.2", "-jitter", "2ms", "-noref", "-timeout", "30s")
	if len(rs) != 1 {
		t.Fatalf("got %d results, want 1 (-noref): %v", len(rs), rs)
	}
	r := rs[0]
	if r["converged"] != true || r["transport"] != "sim" || num(t, r, "drop") != 0.2 || num(t, r, "jitter_ms") != 2 {
		t.Errorf("result = %v, want converged on sim with 20%% drop and 2 ms jitter", r)
	}
}

func TestTrafficJSON(t *testing.T) {
	t.Parallel()
	rs := runJSON(t, "traffic", "-nodes", "3", "-rate", "200", "-duration", "1s", "-keys", "2", "-writers", "all")
	r := rs[0]
	if r["scenario"] != "traffic" || r["converged"] != true || r["writers"] != "all" || num(t, r, "keys") != 2 {
		t.Errorf("result = %v, want a converged traffic row with 2 keys, all writers", r)
	}
	// 200 updates per second for a second, made in a 1 ms loop: never more
	// than are due, and (unless the machine stalls the loop for half a
	// second) not many fewer.
	if u, secs := num(t, r, "updates"), num(t, r, "seconds"); u > 200 || u < 100 || secs < 1 {
		t.Errorf("updates = %v in %v s, want about 200 in at least 1 s", u, secs)
	}
	if b, m := num(t, r, "bytes_per_node_per_s"), num(t, r, "msgs_per_node_per_s"); b <= 0 || m <= 0 {
		t.Errorf("bytes/node/s %v, msgs/node/s %v, want both > 0", b, m)
	}
}

func TestScaleJSON(t *testing.T) {
	t.Parallel()
	rs := runJSON(t, "scale", "-nodes", "12", "-updates", "2")
	r := rs[0]
	if r["scenario"] != "scale" || r["converged"] != true || num(t, r, "nodes") != 12 || r["transport"] != "sim" {
		t.Errorf("result = %v, want 12 converged nodes on sim", r)
	}
	if m := num(t, r, "membership_s"); m <= 0 || m < num(t, r, "join_s") {
		t.Errorf("membership_s %v, join_s %v: membership is reached after the joins", m, num(t, r, "join_s"))
	}
	per, _ := r["per_update"].([]any)
	if len(per) != 2 {
		t.Fatalf("per_update = %v, want the 2 updates", r["per_update"])
	}
	allocated := 0.0
	for _, u := range per {
		u := u.(map[string]any)
		if num(t, u, "latency_ms") <= 0 || num(t, u, "latency_ms") > num(t, r, "max_ms") {
			t.Errorf("per_update %v: latency outside (0, max_ms]", u)
		}
		if _, ok := u["sched_latency_max_ms"]; !ok {
			t.Errorf("per_update %v: no scheduling latency", u)
		}
		if _, ok := u["alloc_bytes"]; !ok {
			t.Errorf("per_update %v: no allocation", u)
		}
		if num(t, u, "gogc") <= 0 {
			t.Errorf("per_update %v: no GOGC (the collector is on)", u)
		}
		allocated += num(t, u, "alloc_bytes")
	}
	// The runtime counts small allocations a span at a time (when a
	// core's cached span is refilled), so one update of 12 nodes may
	// read 0; the two together read what their sends allocated.
	if allocated <= 0 {
		t.Errorf("per_update = %v: the updates allocated nothing", per)
	}
}

// TestScaleTrafficJSON runs past the fast path, so that the tree carries
// the updates and its traffic is split by class, and measures the idle
// cluster.
func TestScaleTrafficJSON(t *testing.T) {
	t.Parallel()
	r := runJSON(t, "scale", "-nodes", "12", "-updates", "3", "-idle", "1s", "-tree-fanout", "2", "-direct-max", "0", "-preset", "fast",
		"-probe-interval", "300ms", "-probe-timeout", "200ms", "-suspicion-mult", "5")[0]
	if r["converged"] != true || num(t, r, "bytes_per_update_per_node") <= 0 || num(t, r, "delta_bytes") <= 0 {
		t.Errorf("result = %v, want converged, with bytes per update and the delta's size", r)
	}
	if c, _ := r["command"].(string); !strings.Contains(c, " -probe-interval 300ms -probe-timeout 200ms -suspicion-mult 5") {
		t.Errorf("command = %q, want the failure detection's flags", c)
	}
	split, ok := r["tree_bytes_per_update_per_node"].(map[string]any)
	if !ok || num(t, split, "push") <= 0 {
		t.Errorf("tree bytes = %v, want pushes", r["tree_bytes_per_update_per_node"])
	}
	if m, all := num(t, r, "idle_membership_bytes_per_node_per_s"), num(t, r, "idle_bytes_per_node_per_s"); m <= 0 || m > all || num(t, r, "idle_ratio") < 1 {
		t.Errorf("idle %v, memberlist's share %v: want 0 < share <= all", all, m)
	}
	if len(r["warmup_ms"].([]any)) != 1 {
		t.Errorf("warmup_ms = %v, want one", r["warmup_ms"])
	}
}

// -probe-interval reaches the nodes: probing once an hour, the idle
// cluster sends memberlist nothing (the fast preset probes every node
// several times a second).
func TestScaleProbeIntervalReachesTheNodes(t *testing.T) {
	t.Parallel()
	r := runJSON(t, "scale", "-nodes", "6", "-updates", "1", "-idle", "1s", "-preset", "fast", "-probe-interval", "1h")[0]
	if r["converged"] != true {
		t.Fatalf("result = %v, want converged", r)
	}
	if m, _ := r["idle_membership_bytes_per_node_per_s"].(float64); m != 0 {
		t.Errorf("idle membership traffic %v B/s per node with a probe an hour, want none", m)
	}
}

// convergence's -probe-interval reaches both clusters: memberlist's relay
// reference, all of whose traffic is memberlist's, writes nothing while
// idle when it probes once an hour.
func TestConvergenceProbeIntervalReachesBothClusters(t *testing.T) {
	t.Parallel()
	rs := runJSON(t, "convergence", "-nodes", "3", "-updates", "1", "-preset", "local", "-settle", "-idle", "1s", "-probe-interval", "1h")
	if len(rs) != 2 || rs[1]["system"] != "memberlist-relay" {
		t.Fatalf("results = %v, want shoal's and the reference's", rs)
	}
	for _, r := range rs {
		if r["converged"] != true || !strings.Contains(r["command"].(string), " -probe-interval 1h0m0s") {
			t.Errorf("%v: want converged, and the flag in the command", r)
		}
	}
	if b, _ := rs[1]["idle_bytes_per_node_per_s"].(float64); b != 0 {
		t.Errorf("the idle reference wrote %v B/s per node with a probe an hour, want nothing", b)
	}
}

func TestBurstAndLeaveJSON(t *testing.T) {
	t.Parallel()
	r := runJSON(t, "burst", "-nodes", "3", "-values", "300", "-rounds", "2")[0]
	if r["scenario"] != "burst" || r["converged"] != true || num(t, r, "values") != 300 || num(t, r, "p50_ms") <= 0 {
		t.Errorf("result = %v, want 300 values converged on 3 nodes", r)
	}
	if rounds, _ := r["per_round"].([]any); len(rounds) != 2 || num(t, rounds[0].(map[string]any), "latency_ms") <= 0 {
		t.Errorf("per_round = %v, want 2 timed rounds", r["per_round"])
	}
	r = runJSON(t, "leave", "-nodes", "2", "-values", "500")[0]
	if r["scenario"] != "leave" || num(t, r, "leave_ms") <= 0 || num(t, r, "values") != 500 {
		t.Errorf("result = %v, want a timed Leave with 500 dirty values", r)
	}
}

func TestReportQuick(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"report", "-quick", "-out", dir}, &out, &errOut); err != nil {
		t.Fatalf("report -quick: %v\nstderr:\n%s", err, errOut.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# Benchmarks", "report -quick", "## Machine", "## Goals", "## Convergence", "memberlist-relay",
		"## Traffic", "## Scale", "## Rate limit", "img/convergence-3.svg", "img/ratelimit.svg",
		"go run ./internal/cmd/shoalbench convergence -nodes 3",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
	if strings.Contains(string(md), "Failed runs") {
		t.Errorf("BENCHMARKS.md reports failed runs:\n%s", md)
	}
	for _, img := range []string{"convergence-3.svg", "convergence-sim.svg", "ratelimit.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, "img", img))
		if err != nil {
			t.Fatal(err)
		}
		checkSVG(t, img, b)
	}
}

// checkSVG fails unless b is well-formed XML with an <svg> root holding
// at least one drawn line.
func checkSVG(t *testing.T, name string, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var root string
	lines := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v", name, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "polyline" {
				lines++
			}
		}
	}
	if root != "svg" || lines == 0 {
		t.Errorf("%s: root <%s>, %d polylines; want <svg> with lines", name, root, lines)
	}
}

func TestUsageErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want error
	}{
		{nil, errUsage},
		{[]string{"nonsense"}, errUsage},
		{[]string{"convergence", "-nodes"}, errUsage},
		{[]string{"convergence", "-transport", "carrier-pigeon"}, errBadFlag},
		{[]string{"convergence", "-drop", "0.1"}, errBadFlag}, // loss needs sim
		{[]string{"convergence", "-nodes", "1"}, errBadFlag},
		{[]string{"convergence", "-preset", "wan"}, errBadFlag},
		{[]string{"traffic", "-writers", "some"}, errBadFlag},
		{[]string{"traffic", "-rate", "-1"}, errBadFlag},
		{[]string{"scale", "-updates", "0"}, errBadFlag},
		{[]string{"scale", "-probe-timeout", "-1s"}, errBadFlag},
		{[]string{"convergence", "-suspicion-mult", "-1"}, errBadFlag},
		{[]string{"burst", "-values", "0"}, errBadFlag},
		{[]string{"leave", "-nodes", "1"}, errBadFlag},
		{[]string{"ratelimit", "-backend", "memcached"}, errBadFlag},
	} {
		err := run(ctx, tc.args, io.Discard, io.Discard)
		if !errors.Is(err, tc.want) {
			t.Errorf("run %q = %v, want %v", tc.args, err, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct{ q, want float64 }{{0.5, 5}, {0.99, 10}, {0.1, 1}, {1, 10}} {
		if got := percentile(sorted, tc.q); got != tc.want {
			t.Errorf("percentile(1..10, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// A missed update (+Inf) dominates the tail it falls in.
	r := convergenceResult{Updates: 4, LatenciesMS: []float64{3, 1, math.Inf(1), 2}}
	r.summarize()
	if r.Converged || r.Missed != 1 || r.P50MS != 2 || !math.IsInf(float64(r.P99MS), 1) {
		t.Errorf("summarize = %+v, want 1 missed, p50 2, p99 never, not converged", r)
	}
	b, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(b), `"p99_ms":null`) || !strings.Contains(string(b), `"p50_ms":2.000`) {
		t.Errorf("JSON %s (%v): want p99_ms null and p50_ms 2.000", b, err)
	}
}

func TestArrivals(t *testing.T) {
	a := newArrivals(3, 2)
	t0 := time.Unix(100, 0)
	if got := a.armedKey(); got != -1 {
		t.Errorf("armedKey before the first arm = %d, want -1", got)
	}
	a.markLevel(0, 0, 1, t0)                       // before arming: only remembered
	a.arm(1, 2)                                    // origin 1's second update
	a.markLevel(1, 0, 9, t0.Add(time.Millisecond)) // another origin's slot does not count
	a.markLevel(1, 1, 1, t0.Add(time.Millisecond))
	a.markLevel(1, 1, 2, t0.Add(3*time.Millisecond))
	a.markLevel(0, 1, 5, t0.Add(2*time.Millisecond))
	if got := a.armedKey(); got != 1 {
		t.Errorf("armedKey = %d, want 1", got)
	}
	if last, n, ok, _ := a.wait(context.Background(), time.Millisecond); ok || n != 2 {
		t.Fatalf("wait = %v %d %v, want 2 of 3 nodes, not done", last, n, ok)
	}
	a.markLevel(2, 1, 2, t0.Add(7*time.Millisecond))
	last, n, ok, err := a.wait(context.Background(), time.Second)
	if !ok || n != 3 || err != nil || !last.Equal(t0.Add(7*time.Millisecond)) {
		t.Fatalf("wait = %v %d %v %v, want all 3, last at t0+7ms", last, n, ok, err)
	}
	// Nodes whose level is already past the next target have it at once.
	a.arm(0, 1)
	if got := a.progressCount(); got != 2 {
		t.Errorf("after arm(0, 1), %d nodes have it, want 2 (nodes 0 and 1 read origin 0 at ≥ 1)", got)
	}
	a.arm(1, 7)
	a.markID(2, 6, t0) // ids must match exactly
	if got := a.progressCount(); got != 0 {
		t.Errorf("markID with another id counted: %d", got)
	}
	a.markID(2, 7, t0)
	if got := a.progressCount(); got != 1 {
		t.Errorf("markID with the armed id: %d nodes, want 1", got)
	}
}

func TestPlotTicksAndSVG(t *testing.T) {
	if got := niceTicks(0, 1, 5); len(got) != 6 || got[0] != 0 || got[5] != 1 {
		t.Errorf("niceTicks(0, 1, 5) = %v, want 0, 0.2, …, 1", got)
	}
	if got := logTicks(1, 1000); len(got) != 10 || got[0] != 1 || got[9] != 1000 {
		t.Errorf("logTicks(1, 1000) = %v, want 1 2 5 10 … 1000", got)
	}
	p := plot{Title: "a <b> & c", XLabel: "x", YLabel: "y", LogX: true,
		Series: []series{{Name: "s", X: []float64{1, 10, math.Inf(1)}, Y: []float64{0.5, 1, 1}, Step: true}},
		Guides: []guide{{Name: "limit", Y: 0.8}}}
	checkSVG(t, "plot", p.svg())
	// A plot without data still renders, with its axes.
	if err := xml.Unmarshal(plot{}.svg(), new(struct{})); err != nil {
		t.Errorf("empty plot: %v", err)
	}
}

func TestScaleKillJSON(t *testing.T) {
	t.Parallel()
	rs := runJSON(t, "scale", "-nodes", "8", "-updates", "2", "-preset", "local", "-kill", "0.25")
	r := rs[0]
	if r["converged"] != true || num(t, r, "killed") != 2 || num(t, r, "detect_s") <= 0 {
		t.Errorf("result = %v, want 2 killed, detected, and the updates converged on the other 6", r)
	}
}

func TestAntiEntropyJSON(t *testing.T) {
	t.Parallel()
	rs := runJSON(t, "antientropy", "-values", "300", "-replicas", "3", "-pushpull", "300ms")
	r := rs[0]
	if r["scenario"] != "antientropy" || num(t, r, "quiet_state_bytes") != 0 || num(t, r, "catch_up_s") <= 0 {
		t.Errorf("result = %v, want quiet exchanges without states and a joiner that caught up", r)
	}
	if q := num(t, r, "quiet_exchange_bytes"); q <= 0 || q >= num(t, r, "state_bytes") {
		t.Errorf("a quiet exchange of %v bytes for %v bytes of state", q, num(t, r, "state_bytes"))
	}
}

func TestConvergenceSizesPlot(t *testing.T) {
	t.Parallel()
	svg := filepath.Join(t.TempDir(), "p99.svg")
	rs := runJSON(t, "convergence", "-sizes", "3,4", "-updates", "2", "-preset", "local", "-noref", "-nsvg", svg)
	if len(rs) != 2 || num(t, rs[0], "nodes") != 3 || num(t, rs[1], "nodes") != 4 {
		t.Fatalf("results = %v, want one row for 3 and one for 4 nodes", rs)
	}
	if _, ok := rs[0]["bytes_per_update_per_node"]; !ok {
		t.Errorf("no bytes_per_update_per_node in %v", rs[0])
	}
	b, err := os.ReadFile(svg)
	if err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("p99 plot: %v, %q", err, b)
	}
	if _, err := parseSizes("3,x", 0); err == nil {
		t.Error("parseSizes accepted 3,x")
	}
}
