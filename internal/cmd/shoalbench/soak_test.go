package main

import (
	"errors"
	"math"
	"testing"
)

// A short soak runs end to end through restarts and bursts, and reports
// every metric. Samples are taken only while every node is up, and on a
// busy machine a restart took 2.3 s on average: restarts 6 s apart leave
// room for samples between them.
func TestSoakJSON(t *testing.T) {
	t.Parallel()
	rs := runJSON(t, "soak", "-nodes", "3", "-duration", "16s", "-warmup", "2s", "-restart", "6s",
		"-burst", "3s", "-burst-values", "50", "-rate", "20", "-sample", "1s", "-bounds", "goroutines=0")
	if len(rs) != len(soakMetrics) {
		t.Fatalf("got %d rows, want one per metric: %v", len(rs), rs)
	}
	for i, r := range rs {
		if r["metric"] != soakMetrics[i] || r["within"] != true {
			t.Errorf("row %d = %v, want %s within (no bounds enforced)", i, r, soakMetrics[i])
		}
	}
	if num(t, rs[0], "samples") < 3 || num(t, rs[4], "mean") < 51 {
		t.Errorf("heap %v, slots %v: want samples, and the 51 counters' slots", rs[0], rs[4])
	}
}

func TestSoakTrend(t *testing.T) {
	var ps []point
	for i := range 11 {
		ps = append(ps, point{t: float64(i * 10), v: 100 + float64(i)}) // +1 per 10 s
	}
	r := trend(ps, 20, 0) // from t=20: values 102..110, mean 106, span 80 s
	if r.Samples != 9 || r.First != 102 || r.Last != 110 || math.Abs(r.PerMin-6) > 1e-9 {
		t.Fatalf("trend = %+v", r)
	}
	if want := 8.0 / 106 * 100; math.Abs(r.Change-want) > 1e-9 {
		t.Fatalf("change = %v, want %v", r.Change, want)
	}
	flat := trend([]point{{0, 5}, {1, 5}, {2, 5}}, 0, 0)
	if flat.Change != 0 || flat.PerMin != 0 {
		t.Fatalf("flat trend = %+v", flat)
	}
}

// A quantity that rises and falls with every restart has no trend over
// whole restart periods, wherever the run ends; a real rise still shows.
func TestSoakTrendOverRestartPeriods(t *testing.T) {
	saw := func(rise float64) []point {
		var ps []point
		for i := range 130 { // 0..645 s, every 5 s: ends 45 s into a period
			ts := float64(i * 5)
			ps = append(ps, point{t: ts, v: 100 + math.Mod(ts, 60) + rise*ts})
		}
		return ps
	}
	raw := trend(saw(0), 60, 0)
	cyc := trend(saw(0), 60, 60)
	if math.Abs(raw.Change) < 2 || math.Abs(cyc.Change) > 0.5 {
		t.Fatalf("flat sawtooth: change %.2f %% per sample fit, %.2f %% over periods; want > 2 and ≈ 0", raw.Change, cyc.Change)
	}
	if up := trend(saw(0.1), 60, 60); math.Abs(up.PerMin-6) > 0.1 {
		t.Fatalf("rising sawtooth: %.3f per minute over periods, want 6", up.PerMin)
	}
}

// A quantity whose mean over a period depends on the phase of its drops
// (slots, which fall to a tenth while retirements are uncommitted) has a
// flat envelope when every period reaches the same peak, and a rising one
// when the peaks rise.
func TestSoakPeakTrend(t *testing.T) {
	swing := func(rise float64) []point {
		var ps []point
		for i := range 130 { // 0..645 s, every 5 s
			ts := float64(i * 5)
			v := 10010 + rise*ts
			if k := i % 7; k == 3 || k == 4 { // drops at a phase that drifts against the 60 s period
				v = 10
			}
			ps = append(ps, point{t: ts, v: v})
		}
		return ps
	}
	mean := trend(swing(0), 60, 60)
	peak := peakTrend(swing(0), 60, 60)
	if math.Abs(mean.Change) < 2 || peak.Change != 0 || peak.Mean != 10010 || peak.Samples != 118 {
		t.Fatalf("flat peaks: change %.2f %% over period means, %+v over period maxima; want > 2 and 0", mean.Change, peak)
	}
	if up := peakTrend(swing(0.1), 60, 60); math.Abs(up.PerMin-6) > 0.5 {
		t.Fatalf("rising peaks: %.3f per minute, want 6", up.PerMin)
	}
	if short := peakTrend(swing(0), 0, 1000); short != trend(swing(0), 0, 1000) {
		t.Fatalf("without two whole periods: %+v, want trend's", short)
	}
}

func TestSoakBounds(t *testing.T) {
	b, err := parseBounds("heap=5, slots=0,queue=12.5")
	if err != nil || len(b) != 2 || b["heap"] != 5 || b["queue"] != 12.5 {
		t.Fatalf("parseBounds = %v, %v", b, err)
	}
	for _, bad := range []string{"heap", "nope=5", "heap=-1", "heap=x"} {
		if _, err := parseBounds(bad); !errors.Is(err, errBadFlag) {
			t.Errorf("parseBounds(%q) = %v, want errBadFlag", bad, err)
		}
	}
}
