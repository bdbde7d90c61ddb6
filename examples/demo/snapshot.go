package main

import (
	"fmt"
	"strings"
	"time"
)

// snapshot is what one frame of the view shows.
type snapshot struct {
	Elapsed  time.Duration
	Duration time.Duration
	Final    bool
	Total    int64 // the true number of requests counted on all nodes
	Nodes    []nodeRow
	Beacon   latencyStats
	Limit    limitRow
}

// limitRow is the cluster rate limit as the demo measures it from outside.
type limitRow struct {
	Limit                       int
	Window                      time.Duration
	Full                        bool  // a whole window has passed
	Offered, Admitted           int64 // in the last window, all nodes
	TotalOffered, TotalAdmitted int64
	Worst                       float64 // highest Admitted/Limit seen over full windows
	MeanOverloaded              float64 // mean Admitted/Limit while Offered ≥ 1.2·Limit
	OverloadedSamples           int
}

// nodeRow is one node's line.
type nodeRow struct {
	Name      string
	Members   int
	Value     int64         // the shared counter as this node reads it
	Counted   int64         // what this node added itself
	Admitted  int64         // what its rate limiter admitted
	Estimate  float64       // what its limiter believes the cluster admitted in the window
	LastReach time.Duration // delay of the last beacon that reached it
	WireBytes uint64        // bytes its transport wrote
}

func (d *demo) snapshot(final bool) snapshot {
	s := snapshot{
		Elapsed:  time.Since(d.started),
		Duration: d.o.duration,
		Final:    final,
		Beacon:   d.tracker.stats(),
	}
	now := time.Now()
	s.Limit = d.limitRow(now, final)
	for i, dn := range d.nodes {
		st := dn.node.Stats()
		v, _ := dn.requests.Value()
		s.Nodes = append(s.Nodes, nodeRow{
			Name:      dn.node.Name(),
			Members:   st.Members,
			Value:     v,
			Counted:   dn.counted.Load(),
			Admitted:  dn.admitted.Load(),
			Estimate:  dn.limiter.Estimate(now),
			LastReach: s.Beacon.LastPerNode[i],
			WireBytes: st.WireBytesSent,
		})
	}
	s.Total = d.total.Load() // after the nodes' values: never below them
	return s
}

// limitRow measures the cluster's admissions in the last window and keeps
// the worst and mean ratios to the limit. Only the view's goroutine calls
// it.
func (d *demo) limitRow(now time.Time, final bool) limitRow {
	r := limitRow{Limit: d.o.limit, Window: d.o.window}
	r.Offered, r.Admitted, r.TotalOffered, r.TotalAdmitted = d.admits.inWindow(now)
	r.Full = now.Sub(d.started) >= d.o.window
	if r.Full && !final {
		ratio := float64(r.Admitted) / float64(r.Limit)
		d.worst = max(d.worst, ratio)
		if float64(r.Offered) >= 1.2*float64(r.Limit) {
			d.overloadSum += ratio
			d.overloadN++
		}
	}
	r.Worst = d.worst
	r.OverloadedSamples = d.overloadN
	if d.overloadN > 0 {
		r.MeanOverloaded = d.overloadSum / float64(d.overloadN)
	}
	return r
}

// summary is the demo's result.
type summary struct {
	Nodes      int
	Ran        time.Duration
	Total      int64
	Converged  bool
	Settle     time.Duration
	Beacon     latencyStats
	Limit      limitRow
	BytesPerS  float64 // mean bytes written per node per second
	Disagreed  []string
	FinalValue []int64
}

func (d *demo) summarize(final snapshot, ran, settle time.Duration, converged bool) summary {
	s := summary{Nodes: len(d.nodes), Ran: ran, Total: final.Total, Converged: converged, Settle: settle, Beacon: final.Beacon, Limit: final.Limit}
	var bytes uint64
	for _, r := range final.Nodes {
		bytes += r.WireBytes
		s.FinalValue = append(s.FinalValue, r.Value)
		if r.Value != final.Total {
			s.Disagreed = append(s.Disagreed, fmt.Sprintf("%s reads %d", r.Name, r.Value))
		}
	}
	if ran > 0 && len(final.Nodes) > 0 {
		s.BytesPerS = float64(bytes) / float64(len(final.Nodes)) / ran.Seconds()
	}
	return s
}

// paragraph is the summary as one paragraph of plain text.
func (s summary) paragraph() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Summary: %d nodes on 127.0.0.1 ran for %s and counted %s requests into one shared counter; ",
		s.Nodes, s.Ran.Round(100*time.Millisecond), thousands(s.Total))
	if s.Converged {
		fmt.Fprintf(&b, "after the load stopped every node read %s within %s (converged). ",
			thousands(s.Total), roundDur(s.Settle))
	} else {
		fmt.Fprintf(&b, "after the load stopped the nodes still disagreed after %s (NOT converged: %s). ",
			roundDur(s.Settle), strings.Join(s.Disagreed, ", "))
	}
	switch {
	case s.Nodes == 1:
		b.WriteString("With one node there is nobody to gossip to. ")
	case s.Beacon.HaveLatencies:
		fmt.Fprintf(&b, "%d beacon updates, sent one at a time from each node in turn, reached all %d nodes in %s median, %s p99, %s at worst",
			s.Beacon.Count, s.Nodes, roundDur(s.Beacon.P50), roundDur(s.Beacon.P99), roundDur(s.Beacon.Max))
		fmt.Fprintf(&b, " (%d missed the %s deadline). ", s.Beacon.Missed, probeTimeout)
	default:
		fmt.Fprintf(&b, "No beacon update completed (%d missed the %s deadline). ", s.Beacon.Missed, probeTimeout)
	}
	l := s.Limit
	fmt.Fprintf(&b, "The cluster rate limit of %s per %s admitted %s of the %s requests offered",
		thousands(int64(l.Limit)), l.Window, thousands(l.TotalAdmitted), thousands(l.TotalOffered))
	if l.OverloadedSamples > 0 {
		fmt.Fprintf(&b, "; while overloaded, the whole cluster admitted %.2f× the limit per sliding window on average and %.2f× at worst. ",
			l.MeanOverloaded, l.Worst)
	} else if l.Worst > 0 {
		fmt.Fprintf(&b, "; at most %.2f× the limit in any sliding window. ", l.Worst)
	} else {
		b.WriteString(" (the run was shorter than one window). ")
	}
	fmt.Fprintf(&b, "Each node wrote %s/s to the network on average, memberlist's probes included.", byteSize(s.BytesPerS))
	return b.String()
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(100 * time.Microsecond)
	}
}

// thousands formats n with comma separators: 12345 → "12,345".
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func byteSize(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}
