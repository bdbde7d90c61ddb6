package ratelimit

import (
	"math"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// keyModel decides for one key from its events; its methods are pure
// functions of their arguments. Events are a crdt.KeyedWindow key's log,
// sorted by (Tick, Rep); Rep 0 is this node.
type keyModel struct {
	window int64 // W, ns
	width  int64 // tick width, ns
	// reserve is how long the room freed by a peer's event stays that
	// peer's (see keyView.reserved).
	reserve int64
}

// keyView is what one node knows of a key at an instant.
type keyView struct {
	// count is the events in the window (t−W, t]: every event whose tick
	// ends after t−W (the oldest tick counts in full, so the count is
	// never below the true one; a tick ahead of t counts as at t).
	count uint64
	// reserved is room held for peers: for each peer, how many of its
	// events left the window within the last reserve, less its events
	// since then. A peer that keeps admitting gets its own freed room
	// back first; without this, every node sees room appear at the same
	// instant (the event's end is known to all) and each would take it
	// before hearing the others, N admissions for one place.
	reserved uint64
	// competing is this node plus the peers with events in the window.
	competing int
}

const maxTrackedPeers = 16

// view computes the key's view at now. It allocates nothing; with more
// than 16 peers in a key's recent events, the others' reservations are
// not held (a bound on the work, not on correctness: reserving less only
// admits sooner).
func (m keyModel) view(now int64, events []crdt.KeyEvent) keyView {
	v := keyView{competing: 1}
	lo := now - m.window
	var peers [maxTrackedPeers]struct {
		rep         uint16
		left, since uint64
		inWindow    bool
	}
	np := 0
	slot := func(rep uint16) int {
		for i := range np {
			if peers[i].rep == rep {
				return i
			}
		}
		if np == len(peers) {
			return -1
		}
		peers[np].rep = rep
		np++
		return np - 1
	}
	for _, x := range events {
		end := (x.Tick + 1) * m.width // the tick's end; it leaves the window at end+W
		switch {
		case end > lo: // in the window
			v.count += uint64(x.N)
			if x.Rep == 0 {
				continue
			}
			i := slot(x.Rep)
			if i < 0 {
				continue
			}
			peers[i].inWindow = true
			if x.Tick*m.width >= now-m.reserve-m.width {
				peers[i].since += uint64(x.N)
			}
		case end > lo-m.reserve && x.Rep != 0: // left within reserve
			if i := slot(x.Rep); i >= 0 {
				peers[i].left += uint64(x.N)
			}
		}
	}
	for _, p := range peers[:np] {
		if p.inWindow {
			v.competing++
		}
		if p.left > p.since {
			v.reserved += p.left - p.since
		}
	}
	return v
}

// admits decides n more events of a key with view v, unsent of which this
// node counted since its last flush (no peer knows of them). Beyond
// count + reserved + n ≤ limit, it lets a node take, per flush, at most
// its share ⌈room/competing⌉ of the room its peers see: a burst on a key
// that every node receives is then shared instead of being taken by every
// node at once.
func admits(limit float64, v keyView, unsent, n float64) bool {
	used := float64(v.count) + float64(v.reserved)
	if used+n > limit {
		return false
	}
	if v.competing <= 1 {
		return true
	}
	seen := limit - (used - unsent)
	return unsent+n <= math.Ceil(seen/float64(v.competing))
}

// allow is AllowN's decision on the keyed window v: it counts n events of
// h at now in v if they fit under limit, and reports whether it did.
func (m keyModel) allow(v *crdt.KeyedWindow, now time.Time, h crdt.KeyHash, limit float64, n int) bool {
	view := m.view(now.UnixNano(), v.Events(h))
	if !admits(limit, view, float64(v.Unsent(h)), float64(n)) {
		return false
	}
	v.AddAt(now, h, uint64(n))
	return true
}

// retryAfter returns how long after now until n more events fit under
// limit, if nothing else were admitted: this node's events free their
// place when they leave the window, a peer's reserve later. It is never
// more than W; ok is false if n never fits (n > limit).
func (m keyModel) retryAfter(now int64, limit, n int, v keyView, events []crdt.KeyEvent) (time.Duration, bool) {
	if n > limit {
		return 0, false
	}
	need := int64(v.count) + int64(v.reserved) + int64(n) - int64(limit)
	if need <= 0 {
		return 0, true
	}
	// Own events free at end+W, peers' at end+W+reserve: two sorted
	// sequences, walked together. Reserved room (peers' events already
	// gone) frees at end+W+reserve too, in the same walk.
	lo := now - m.window
	i, j := 0, 0
	next := func(own bool, k *int) (int64, uint64, bool) {
		for ; *k < len(events); *k++ {
			x := events[*k]
			end := (x.Tick + 1) * m.width
			if (x.Rep == 0) != own || end <= lo-m.reserve || (own && end <= lo) {
				continue
			}
			t := end + m.window
			if !own {
				t += m.reserve
			}
			return t, uint64(x.N), true
		}
		return 0, 0, false
	}
	ta, na, oka := next(true, &i)
	tb, nb, okb := next(false, &j)
	freed := int64(0)
	for oka || okb {
		var t int64
		if oka && (!okb || ta <= tb) {
			t, freed = ta, freed+int64(na)
			i++
			ta, na, oka = next(true, &i)
		} else {
			t, freed = tb, freed+int64(nb)
			j++
			tb, nb, okb = next(false, &j)
		}
		if freed >= need {
			return min(time.Duration(max(t-now, 0)), time.Duration(m.window)), true
		}
	}
	return time.Duration(m.window), true
}

// newestEnd returns when the key's newest event leaves the window, or now
// if it has none.
func (m keyModel) newestEnd(now int64, events []crdt.KeyEvent) int64 {
	if len(events) == 0 {
		return now
	}
	return max(now, (events[len(events)-1].Tick+1)*m.width+m.window)
}

// oldest returns the start of the key's oldest tick inside the window
// ending at now, and false if it has none.
func (m keyModel) oldest(now int64, events []crdt.KeyEvent) (int64, bool) {
	lo := now - m.window
	for _, x := range events {
		if (x.Tick+1)*m.width > lo {
			return x.Tick * m.width, true
		}
	}
	return 0, false
}
