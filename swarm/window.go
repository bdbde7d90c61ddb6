package swarm

import (
	"fmt"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// Window is a cluster-wide sliding-window counter: events counted by every
// node over the last window, split into buckets that expire by themselves
// (see crdt.WindowCounter for the estimate). For rate limits use package
// swarm/ratelimit, which adds what peers probably did since they were last
// heard from.
type Window struct {
	s *Shared[*crdt.WindowCounter]
}

// NewWindow registers (or returns) the window counter name on n. Every node
// sharing name must use the same window and buckets (a mismatch is
// rejected at merge and counted in Stats.DecodeErrors); on one node,
// registering name again with another window or bucket count fails with
// ErrConfigMismatch.
func NewWindow(n *Node, name string, window time.Duration, buckets int) (*Window, error) {
	if _, err := crdt.NewWindowCounter(n.self, window, buckets); err != nil {
		return nil, err
	}
	s, err := ShareConfig(n, name, windowConfig{window, buckets}, func(self crdt.Replica) *crdt.WindowCounter {
		w, _ := crdt.NewWindowCounter(self, window, buckets) // validated above
		return w
	})
	if err != nil {
		return nil, err
	}
	return handleFor(s.e, func() *Window { return &Window{s: s} })
}

// Add counts n events now.
func (w *Window) Add(n uint64) error {
	return w.s.Update(func(c *crdt.WindowCounter, now time.Time) { c.AddAt(now, n) })
}

// Value returns the cluster-wide count over the last window, as this node
// knows it.
func (w *Window) Value() (float64, error) {
	var v float64
	now := w.s.e.node.now()
	err := w.s.Read(func(c *crdt.WindowCounter) { v = c.ValueAt(now) })
	return v, err
}

// Shared returns the underlying typed handle.
func (w *Window) Shared() *Shared[*crdt.WindowCounter] { return w.s }

// windowConfig is a window counter's configuration, as ShareConfig
// compares it.
type windowConfig struct {
	window  time.Duration
	buckets int
}

func (c windowConfig) String() string {
	return fmt.Sprintf("window %v in %d buckets", c.window, c.buckets)
}
