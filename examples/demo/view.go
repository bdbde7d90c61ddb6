package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
)

// view shows the demo's progress: a live terminal view or plain lines.
type view interface {
	frame(s snapshot)
	close()
}

// liveView redraws the whole screen with ANSI escape codes: cursor home,
// each line cleared to its end, the rest of the screen cleared.
type liveView struct {
	w   io.Writer
	buf bytes.Buffer
}

const (
	ansiHome       = "\x1b[H"
	ansiClearLine  = "\x1b[K"
	ansiClearBelow = "\x1b[J"
	ansiClearAll   = "\x1b[2J"
	ansiHideCursor = "\x1b[?25l"
	ansiShowCursor = "\x1b[?25h"
	ansiBold       = "\x1b[1m"
	ansiDim        = "\x1b[2m"
	ansiGreen      = "\x1b[32m"
	ansiYellow     = "\x1b[33m"
	ansiReset      = "\x1b[0m"
)

func newLiveView(w io.Writer) *liveView {
	fmt.Fprint(w, ansiClearAll+ansiHideCursor)
	return &liveView{w: w}
}

func (v *liveView) frame(s snapshot) {
	b := &v.buf
	b.Reset()
	b.WriteString(ansiHome)
	line := func(format string, args ...any) {
		fmt.Fprintf(b, format, args...)
		b.WriteString(ansiClearLine + "\n")
	}
	state := fmt.Sprintf("%s / %s", s.Elapsed.Round(time.Second), s.Duration)
	if s.Final {
		state = "done, load stopped"
	}
	line("%sshoal demo%s: %d nodes on 127.0.0.1, %s   %s(Ctrl-C ends early)%s",
		ansiBold, ansiReset, len(s.Nodes), state, ansiDim, ansiReset)
	line("")
	line("true total of requests counted on all nodes: %s%s%s", ansiBold, thousands(s.Total), ansiReset)
	line("")
	line("%-8s %7s %9s %7s %9s %9s %15s %11s %11s", "node", "members", "counter", "behind", "counted", "admitted", "limit estimate", "last beacon", "wire bytes")
	for _, r := range s.Nodes {
		behind := s.Total - r.Value
		color := ansiGreen
		if behind != 0 {
			color = ansiYellow
		}
		line("%-8s %7d %s%9s %7s%s %9s %9s %15s %11s %11s", r.Name, r.Members, color, thousands(r.Value), thousands(behind), ansiReset,
			thousands(r.Counted), thousands(r.Admitted), fmt.Sprintf("%s/%s", thousands(int64(r.Estimate)), thousands(int64(s.Limit.Limit))),
			reachCell(r.LastReach), thousands(int64(r.WireBytes)))
	}
	line("")
	l := s.Limit
	line("rate limit \"api\": %s requests per %s across the cluster, decided locally on each node", thousands(int64(l.Limit)), l.Window)
	ratio := float64(l.Admitted) / float64(l.Limit)
	color := ansiGreen
	if ratio > 1.1 {
		color = ansiYellow
	}
	line("  true total in the last %s: offered %s, admitted %s%s (%.2f× the limit)%s", l.Window, thousands(l.Offered), color, thousands(l.Admitted), ratio, ansiReset)
	if l.Full {
		line("  worst window so far: %.2f× the limit", l.Worst)
	} else {
		line("  (the first window is still filling)")
	}
	line("")
	line("beacon: an update sent from one node at a time; time until every node has it")
	if s.Beacon.HaveLatencies {
		line("  %d updates reached all nodes: median %s, p99 %s, max %s; %d missed %s",
			s.Beacon.Count, roundDur(s.Beacon.P50), roundDur(s.Beacon.P99), roundDur(s.Beacon.Max), s.Beacon.Missed, probeTimeout)
	} else {
		line("  waiting for the first update ...")
	}
	b.WriteString(ansiClearBelow)
	_, _ = v.w.Write(b.Bytes())
}

func reachCell(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return roundDur(d).String()
}

func (v *liveView) close() {
	fmt.Fprint(v.w, ansiShowCursor+"\n")
}

// plainView prints one line a second (and the final state), for logs and
// CI where escape codes would be noise.
type plainView struct {
	w    io.Writer
	last time.Time
}

func newPlainView(w io.Writer) *plainView { return &plainView{w: w} }

func (v *plainView) frame(s snapshot) {
	now := time.Now()
	if !s.Final && !v.last.IsZero() && now.Sub(v.last) < time.Second {
		return
	}
	v.last = now
	var b strings.Builder
	if s.Final {
		b.WriteString("final")
	} else {
		fmt.Fprintf(&b, "t=%s", s.Elapsed.Round(time.Second))
	}
	fmt.Fprintf(&b, " total=%d", s.Total)
	for _, r := range s.Nodes {
		fmt.Fprintf(&b, " %s=%d", r.Name, r.Value)
	}
	fmt.Fprintf(&b, " admitted_in_window=%d/%d", s.Limit.Admitted, s.Limit.Limit)
	if s.Beacon.HaveLatencies {
		fmt.Fprintf(&b, " beacon_reach_all: n=%d p50=%s max=%s missed=%d",
			s.Beacon.Count, roundDur(s.Beacon.P50), roundDur(s.Beacon.Max), s.Beacon.Missed)
	}
	fmt.Fprintln(v.w, b.String())
}

func (v *plainView) close() {}
