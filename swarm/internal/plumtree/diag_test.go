package plumtree

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"
)

// TestDiagLoss is a diagnostic, run with SHOAL_DIAG=1: 500 nodes, 5 %
// loss, broadcasts one at a time, and why a node still misses one after
// a second.
func TestDiagLoss(t *testing.T) {
	if os.Getenv("SHOAL_DIAG") == "" {
		t.Skip("SHOAL_DIAG not set")
	}
	n, k := 500, 3
	if v := os.Getenv("SHOAL_DIAG_TIMERS"); v != "" {
		var gt, gr, li int
		fmt.Sscanf(v, "%d,%d,%d", &gt, &gr, &li)
		simConfig = func(c *Config) {
			c.GraftTimeout = time.Duration(gt) * time.Millisecond
			c.GraftRetry = time.Duration(gr) * time.Millisecond
			c.LazyInterval = time.Duration(li) * time.Millisecond
		}
		defer func() { simConfig = nil }()
	}
	s := newSim(t, n, k, 7, 0)
	s.loss = 0.05
	if v := os.Getenv("SHOAL_DIAG_LOSS"); v != "" {
		fmt.Sscan(v, &s.loss)
	}
	// Form the tree without loss? No: loss from the start, as shoalbench.
	type key struct {
		p  Peer
		id ID
	}
	ihaveRecv := map[key]int{} // announcements of id that reached p
	ihaveLost := map[key]int{} // announcements of id to p lost
	graftSent := map[key]int{} // grafts p sent for id
	graftLost := map[key]int{} // grafts p sent for id, lost
	replyLost := map[key]int{} // gossip for id to p, lost
	kindsSent := map[string]int{}
	s.trace = func(m Message, lost bool) {
		kindsSent[m.Kind.String()]++
		if m.Kind == IHave && m.Round > 0 {
			kindsSent["ihave-again"]++
		}
		switch m.Kind {
		case IHave:
			for _, a := range m.Announcements {
				if lost {
					ihaveLost[key{m.To, a.ID}]++
				} else {
					ihaveRecv[key{m.To, a.ID}]++
				}
			}
		case Graft:
			if m.ID.Origin != "" {
				graftSent[key{m.From, m.ID}]++
				if lost {
					graftLost[key{m.From, m.ID}]++
				}
			}
		case Gossip:
			if lost {
				replyLost[key{m.To, m.ID}]++
			}
		}
	}
	// Warm up: a few broadcasts to form the tree.
	live := s.live()
	for i := range 5 {
		s.broadcast(live[(i*97)%n])
		s.run(time.Second)
	}
	var lat []time.Duration
	reasons := map[string]int{}
	for i := range 200 {
		id := s.broadcast(live[(i*7919)%n])
		start := s.now
		s.run(time.Second)
		m := s.missing(id)
		if len(m) == 0 {
			lat = append(lat, s.lastDelivery[id].Sub(start))
			continue
		}
		lat = append(lat, time.Hour)
		for _, p := range m {
			kk := key{p, id}
			r := fmt.Sprintf("ihaveRecv=%d ihaveLost=%d graftSent=%d graftLost=%d gossipLost=%d", ihaveRecv[kk], ihaveLost[kk], graftSent[kk], graftLost[kk], replyLost[kk])
			reasons[r]++
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("p50 %v p90 %v p99 %v max %v", lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100], lat[len(lat)-1])
	for r, c := range reasons {
		t.Logf("%4d %s", c, r)
	}
	var st Stats
	for _, tr := range s.nodes {
		x := tr.Stats()
		st.GraftsSent += x.GraftsSent
		st.GraftGiveUps += x.GraftGiveUps
		st.GraftsMissed += x.GraftsMissed
		st.MissingDropped += x.MissingDropped
		st.Duplicates += x.Duplicates
		st.Reannounced += x.Reannounced
		st.UnackedDropped += x.UnackedDropped
		st.Delivered += x.Delivered
	}
	t.Logf("stats %+v", st)
	t.Logf("messages: %v", kindsSent)
}
