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
	// mine is the same for this node: its events that left within
	// reserve, less its events since; the room its peers hold for it.
	// mineLeft and mineSince are its two terms.
	mine, mineLeft, mineSince uint64
	// active is this node plus the peers with events within the last
	// reserve: the nodes admitting the key now, which race for free room.
	// ahead is how many of those peers sort before this node, its rank
	// for splitting a remainder.
	active, ahead int
}

const maxTrackedPeers = 16

// view computes the key's view at now from its events and their total
// count; before reports whether a replica row sorts before this node. It
// looks only at the events that left the window (at the front, until the
// next expiry) and those of the last reserve (at the back): O(1) in the
// events inside the window. It allocates nothing; with more than 16
// peers in a key's recent events, the others' reservations are not held
// (a bound on the work: reserving less only admits sooner).
func (m keyModel) view(now int64, events []crdt.KeyEvent, total uint64, before func(uint16) bool) keyView {
	v := keyView{active: 1}
	lo := now - m.window
	recent := now - m.reserve - m.width
	var peers [maxTrackedPeers]struct {
		rep         uint16
		left, since uint64
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
	var gone, mineLeft, mineSince uint64
	first := 0 // the first event in the window
	for ; first < len(events); first++ {
		x := events[first]
		end := (x.Tick + 1) * m.width // the tick's end; it leaves the window at end+W
		if end > lo {
			break
		}
		gone += uint64(x.N)
		switch {
		case end <= lo-m.reserve: // left before the reserve
		case x.Rep == 0:
			mineLeft += uint64(x.N)
		default:
			if i := slot(x.Rep); i >= 0 {
				peers[i].left += uint64(x.N)
			}
		}
	}
	for i := len(events) - 1; i >= first && events[i].Tick*m.width >= recent; i-- {
		x := events[i]
		if x.Rep == 0 {
			mineSince += uint64(x.N)
		} else if j := slot(x.Rep); j >= 0 {
			peers[j].since += uint64(x.N)
		}
	}
	if total > gone {
		v.count = total - gone
	}
	v.mineLeft, v.mineSince = mineLeft, mineSince
	if mineLeft > mineSince {
		v.mine = mineLeft - mineSince
	}
	for _, p := range peers[:np] {
		if p.since > 0 {
			v.active++
			if before != nil && before(p.rep) {
				v.ahead++
			}
		}
		if p.left > p.since {
			v.reserved += p.left - p.since
		}
	}
	return v
}

// allowance returns how many more events this node may admit for a key
// with view v, unsent of which it counted since its last flush (no peer
// knows of them):
//
//   - The room, limit − count, goes first to the claims: the reserved
//     room of each peer and this node's own (mine). When the room is
//     smaller than the claims (the cluster admitted more than the limit
//     in a race), each claimant gets its share in proportion, so that
//     together they take the room, not more.
//   - What the claims leave is free. While other nodes admit the key too
//     (active), each takes per flush ⌊free/active⌋ of the free room its
//     peers see, plus one if its rank among the active nodes is below
//     the remainder: they see the same room at the same time, and
//     together take what there is, not active times it. A node alone
//     with a key takes all of it.
func allowance(limit float64, v keyView, unsent float64) float64 {
	room := limit - float64(v.count)
	if room <= 0 {
		return 0
	}
	mine, claims := float64(v.mine), float64(v.reserved+v.mine)
	if room < claims {
		return math.Floor(room * mine / claims)
	}
	own := room - float64(v.reserved) // mine plus the free room
	if v.active <= 1 {
		return own
	}
	free := max(room+unsent-claims, 0) // as the peers see it: they miss unsent
	c := float64(v.active)
	share := math.Floor(free / c)
	if float64(v.ahead) < free-share*c {
		share++
	}
	// Per flush: what its own events freed and it has not taken back,
	// plus its share of the free less what it took of the share since
	// its last flush (its recent events beyond its reclaims, if unsent).
	taken := min(unsent, float64(v.mineSince)-min(float64(v.mineSince), float64(v.mineLeft)))
	return min(own, mine+share-taken)
}

// admits decides n more events of a key with view v (see allowance).
func admits(limit float64, v keyView, unsent, n float64) bool {
	return n <= allowance(limit, v, unsent)
}

// allow is AllowN's decision on the keyed window v: it counts n events of
// h at now in v if they fit under limit, and reports whether it did.
func (m keyModel) allow(v *crdt.KeyedWindow, now time.Time, h crdt.KeyHash, limit float64, n int) bool {
	view := m.view(now.UnixNano(), v.Events(h), v.Total(h), v.BeforeSelf)
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
