package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemoPlain runs the demo as CI does (stdout is not a terminal) with a
// short duration and checks the exit code, the log lines and the summary.
func TestDemoPlain(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-duration", "3s"}, &out, &errOut, false)
	if code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	if strings.Contains(s, "\x1b[") {
		t.Errorf("plain output contains escape codes:\n%q", s)
	}
	for _, want := range []string{"t=0s total=", "node-5=", "final total=", "Summary: 5 nodes on 127.0.0.1", "(converged)", "beacon updates", "admitted_in_window=", "The cluster rate limit of 1,250 per 5s admitted"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

// TestDemoLiveView runs the terminal view: it must draw with escape codes
// and restore the cursor at the end.
func TestDemoLiveView(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-duration", "1s", "-nodes", "3", "-refresh", "100ms"}, &out, &errOut, true)
	if code != 0 {
		t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, errOut.String())
	}
	s := out.String()
	for _, want := range []string{ansiHideCursor, ansiHome, "node-3", "done, load stopped", ansiShowCursor, "Summary: 3 nodes"} {
		if !strings.Contains(s, want) {
			t.Errorf("live output lacks %q", want)
		}
	}
	if n := strings.Count(s, ansiHome); n < 3 {
		t.Errorf("the view was drawn %d times in 1 s at 100 ms, want at least 3", n)
	}
}

// TestDemoNoTUIWins checks that -no-tui beats a terminal.
func TestDemoNoTUIWins(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-duration", "500ms", "-nodes", "2", "-no-tui"}, &out, &errOut, true); code != 0 {
		t.Fatalf("exit code %d\nstderr:\n%s", code, errOut.String())
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("-no-tui output contains escape codes:\n%q", out.String())
	}
}

// TestDemoCancel ends the demo early, as Ctrl-C does: it still converges
// and prints the summary. It cancels once the demo has printed its first
// frame, so that a slow start under load is not what gets cancelled.
func TestDemoCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	start := time.Now()
	go func() { done <- run(ctx, []string{"-duration", "1m", "-nodes", "2"}, &out, &errOut, false) }()
	var code int
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case code = <-done:
			t.Fatalf("the demo ended before it was cancelled: exit code %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
		case <-deadline:
			t.Fatalf("no frame within 30s\nstderr:\n%s", errOut.String())
		case <-time.After(10 * time.Millisecond):
			if strings.Contains(out.String(), "t=") {
				break wait
			}
		}
	}
	cancel()
	cancelled := time.Now()
	code = <-done
	if code != 0 {
		t.Fatalf("exit code %d\nstderr:\n%s", code, errOut.String())
	}
	if took := time.Since(cancelled); took > 30*time.Second {
		t.Errorf("cancelled demo took %v to stop (%v in all)", took, time.Since(start))
	}
	if !strings.Contains(out.String(), "Summary: 2 nodes") {
		t.Errorf("no summary:\n%s", out.String())
	}
}

// -debug serves every node's debug page while the demo runs.
func TestDemoDebugPages(t *testing.T) {
	var out, errOut lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(context.Background(), []string{"-duration", "3s", "-nodes", "2", "-debug", "127.0.0.1:0"}, &out, &errOut, false)
	}()
	re := regexp.MustCompile(`debug pages on (http://\S+)/`)
	var base string
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(errOut.String()); m != nil {
			base = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no debug address on stderr: %q", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	get := func(path string) string {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if idx := get("/"); !strings.Contains(idx, `<a href="/node-2">node-2</a>`) {
		t.Errorf("index:\n%s", idx)
	}
	page := get("/node-1?format=json")
	for _, want := range []string{`"node": "node-1"`, `"name": "requests"`, `"name": "beacon"`, `"name": "ratelimit/api"`} {
		if !strings.Contains(page, want) {
			t.Errorf("node-1's JSON lacks %s", want)
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDemoFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nodes", "0"},
		{"-nodes", "65"},
		{"-duration", "0s"},
		{"-rate", "-1"},
		{"-refresh", "0s"},
		{"-limit", "-1"},
		{"-window", "10ms"},
		{"extra"},
		{"-bogus"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut, false); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (stderr %q)", args, code, errOut.String())
		}
		if errOut.Len() == 0 {
			t.Errorf("run(%q) explained nothing on stderr", args)
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errOut, false); code != 0 {
		t.Errorf("-h exits %d, want 0", code)
	}
	if !strings.Contains(errOut.String(), "-nodes") {
		t.Errorf("-h does not describe -nodes: %q", errOut.String())
	}
}

// The whole cluster's admissions stay near the limit once the limiters
// have seen each other: a 1 s window overloaded 2×, for 3 s.
func TestDemoRateLimit(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-duration", "3s", "-nodes", "3", "-window", "1s", "-limit", "150"}, &out, &errOut, false)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errOut.String())
	}
	m := regexp.MustCompile(`admitted (\S+) of the (\S+) requests offered; while overloaded, the whole cluster admitted (\S+)× the limit per sliding window on average and (\S+)× at worst`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no rate-limit sentence in the summary:\n%s", out.String())
	}
	mean, _ := strconv.ParseFloat(m[3], 64)
	worst, _ := strconv.ParseFloat(m[4], 64)
	// Generous bounds for a loaded 2-core machine under -race; the
	// ratelimit package's own tests hold the tight ones.
	if mean < 0.6 || worst > 1.5 {
		t.Errorf("admitted %s× the limit on average, %s× at worst; want within [0.6, 1.5]", m[3], m[4])
	}
}

func TestAdmissionLog(t *testing.T) {
	t0 := time.Unix(100, 0)
	l := newAdmissionLog(time.Second)
	l.record(t0, 10, 8)
	l.record(t0.Add(500*time.Millisecond), 5, 5)
	l.record(t0.Add(1200*time.Millisecond), 4, 1)
	off, adm, toff, tadm := l.inWindow(t0.Add(1300 * time.Millisecond))
	if off != 9 || adm != 6 || toff != 19 || tadm != 14 {
		t.Errorf("inWindow = %d %d %d %d, want 9 6 19 14", off, adm, toff, tadm)
	}
	off, adm, _, _ = l.inWindow(t0.Add(3 * time.Second))
	if off != 0 || adm != 0 {
		t.Errorf("after the window: %d %d, want 0 0", off, adm)
	}
}

func TestBeaconTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBeaconTracker(3)
	done := b.expect(1, 0, t0)
	b.observe(1, 1, t0.Add(5*time.Millisecond))
	select {
	case <-done:
		t.Fatal("probe 1 done after 2 of 3 nodes")
	default:
	}
	b.observe(2, 1, t0.Add(9*time.Millisecond))
	select {
	case <-done:
	default:
		t.Fatal("probe 1 not done after all nodes saw it")
	}
	// Probe 2 from node 1 reaches node 0 only: given up, counted missed.
	b.expect(2, 1, t0.Add(time.Second))
	b.observe(0, 2, t0.Add(time.Second+3*time.Millisecond))
	b.giveUp(2)
	// Probe 3 is abandoned when the demo ends: not missed.
	b.expect(3, 2, t0.Add(2*time.Second))
	b.abandon(3)
	s := b.stats()
	if s.Count != 1 || s.Missed != 1 || s.Max != 9*time.Millisecond || s.P50 != 9*time.Millisecond {
		t.Errorf("stats = %+v, want 1 reached in 9ms, 1 missed", s)
	}
	want := []time.Duration{3 * time.Millisecond, 0, 0}
	for i, d := range want {
		if s.LastPerNode[i] != d {
			t.Errorf("node %d last = %v, want %v", i, s.LastPerNode[i], d)
		}
	}
	// A node seeing several probes at once counts each of them.
	b2 := newBeaconTracker(2)
	d1 := b2.expect(1, 0, t0)
	b2.observe(1, 5, t0.Add(time.Millisecond))
	select {
	case <-d1:
	default:
		t.Error("probe not done")
	}
	// One node: a probe is done at once.
	b3 := newBeaconTracker(1)
	select {
	case <-b3.expect(1, 0, t0):
	default:
		t.Error("single-node probe not done at once")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
