package main

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// kill ends the process with SIGKILL, as a crash or an OOM kill does, and
// waits for it.
func (p *proc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Fatalf("%s did not die", p.name)
	}
}

// countAfter returns the value of the first "value=N" line printed after
// line index from, waiting for one where want(N) holds.
func (p *proc) waitValue(from int, timeout time.Duration, want func(int64) bool) int64 {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last int64 = -1
	for {
		p.mu.Lock()
		for _, l := range p.lines[min(from, len(p.lines)):] {
			if m := valueLine.FindStringSubmatch(l); m != nil {
				v, _ := strconv.ParseInt(m[1], 10, 64)
				last = v
				if want(v) {
					p.mu.Unlock()
					return v
				}
			}
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no acceptable value within %v; last value %d", p.name, timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Five processes with -state count 100,000 increments in total (and a
// per-tenant counter); then every one is killed with SIGKILL at once, with
// 500 more increments made after the last snapshot, and restarted: every
// process reads between the total the snapshots held and the true total,
// never more. Then each is killed and restarted in turn: every process
// reads the exact total.
func TestCountsSurviveKillingEveryProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := build(t)
	const procs, each = 5, 20_000
	dirs := make([]string, procs)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	args := func(i int, join string, extra ...string) []string {
		a := []string{"-state", dirs[i], "-snapshot-interval", "300ms"}
		if join != "" {
			a = append(a, "-join", join)
		}
		return append(a, extra...)
	}
	names := func(i int) string { return fmt.Sprintf("p%d", i) }
	listening := func(p *proc) string {
		return p.wait(regexp.MustCompile(p.name+`: listening on (\S+)`), 30*time.Second)
	}

	// Phase 1: count.
	ps := make([]*proc, procs)
	ps[0] = start(t, bin, names(0), args(0, "", "-count", strconv.Itoa(each))...)
	seed := listening(ps[0])
	for i := 1; i < procs; i++ {
		ps[i] = start(t, bin, names(i), args(i, seed, "-count", strconv.Itoa(each))...)
	}
	const total = procs * each
	for _, p := range ps {
		p.waitValue(0, 60*time.Second, func(v int64) bool { return v == total })
	}
	fmt.Fprintln(ps[0].stdin, "acme 42")
	ps[0].wait(regexp.MustCompile(`tenant acme=42`), 10*time.Second)
	// Every process snapshots the converged total...
	snapshotted := regexp.MustCompile(fmt.Sprintf(`snapshot \d+ value=%d`, total))
	for _, p := range ps {
		p.wait(snapshotted, 30*time.Second)
	}
	// ...then 500 more are counted, and every process dies at once.
	const tail = 500
	fmt.Fprintln(ps[1].stdin, strconv.Itoa(tail))
	ps[1].waitValue(0, 10*time.Second, func(v int64) bool { return v == total+tail })
	for _, p := range ps {
		p.kill()
	}

	// Phase 2: all restart.
	ps[0] = start(t, bin, names(0), args(0, "")...)
	seed = listening(ps[0])
	for i := 1; i < procs; i++ {
		ps[i] = start(t, bin, names(i), args(i, seed)...)
	}
	for _, p := range ps {
		p.wait(regexp.MustCompile(fmt.Sprintf(`members=%d`, procs)), 60*time.Second)
	}
	// Wait for anti-entropy to spread the restored states, then compare
	// every process against the bounds.
	var final int64
	for _, p := range ps {
		v := p.waitValue(0, 60*time.Second, func(v int64) bool { return v >= total })
		if v > total+tail {
			t.Fatalf("%s reads %d after a full restart: more than was ever counted (%d)", p.name, v, total+tail)
		}
		final = max(final, v)
	}
	t.Logf("after a SIGKILL of all %d processes: %d of %d restored (the bound allows %d..%d)", procs, final, total+tail, total, total+tail)
	fmt.Fprintln(ps[3].stdin, "acme 1")
	ps[3].wait(regexp.MustCompile(`tenant acme=43`), 30*time.Second)

	// Phase 3: restart one at a time; the cluster keeps every count.
	for _, p := range ps {
		p.waitValue(0, 30*time.Second, func(v int64) bool { return v == final })
	}
	for i := range ps {
		ps[i].kill()
		alive := ps[(i+1)%procs]
		ps[i] = start(t, bin, names(i), args(i, listeningAgain(t, alive))...)
		listening(ps[i])
		// The restarted process starts from its snapshot and the others'
		// state: it must read the exact total.
		ps[i].waitValue(0, 60*time.Second, func(v int64) bool { return v == final })
	}
	for _, p := range ps {
		if got := p.waitValue(0, 30*time.Second, func(v int64) bool { return v == final }); got != final {
			t.Errorf("%s reads %d, want %d", p.name, got, final)
		}
	}
}

// listeningAgain returns the address a process printed at start.
func listeningAgain(t *testing.T, p *proc) string {
	t.Helper()
	return p.wait(regexp.MustCompile(p.name+`: listening on (\S+)`), 30*time.Second)
}
