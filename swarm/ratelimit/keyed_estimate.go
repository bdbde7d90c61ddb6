package ratelimit

import (
	"math"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// keyModel holds what a per-key estimate needs besides the key's slots;
// its methods are pure functions of their arguments.
type keyModel struct {
	width int64 // bucket width, ns
	nb    int64 // B
	lag   int64
}

func (m keyModel) bucket(now int64) int64 {
	q := now / m.width
	if now%m.width != 0 && now < 0 {
		q--
	}
	return q
}

// estimate returns the key's estimated count in the window ending at now:
// the buckets of every replica in [cur−B, cur] (a peer's buckets ahead of
// now count as now), plus, for each peer heard at heard(r) within the
// last two buckets, its rate over the two buckets up to heard times
// clamp(now − heard + lag, 0, 2·lag), as the Limiter's estimator does.
// Self's slot is never extrapolated.
//
// It also returns how many nodes compete for the key: this one and every
// peer with a bucket in the window.
func (m keyModel) estimate(now int64, self crdt.Replica, slots []crdt.WindowSlot, heard func(crdt.Replica) int64) (est float64, competing int) {
	cur := m.bucket(now)
	var sum uint64
	var x float64
	competing = 1
	for i := range slots {
		s := &slots[i]
		in := false
		for _, b := range s.Buckets {
			if b.Index >= cur-m.nb && b.Index <= cur+m.nb {
				sum += b.N
				in = true
			}
		}
		if s.Replica == self {
			continue
		}
		if in {
			competing++
		}
		if m.lag <= 0 {
			continue
		}
		h := heard(s.Replica)
		d := min(now-h+m.lag, 2*m.lag)
		if h == 0 || d <= 0 || now-h > 2*m.width {
			continue
		}
		hc := m.bucket(h)
		var n uint64
		for _, b := range s.Buckets {
			if b.Index >= hc-1 {
				n += b.N
			}
		}
		if elapsed := h - (hc-1)*m.width; n > 0 && elapsed > 0 {
			x += float64(n) / float64(elapsed) * float64(d)
		}
	}
	return float64(sum) + x, competing
}

// admits decides n more events of a key whose estimate is est, unsent of
// which this node counted since its last flush (no peer knows of them),
// with competing nodes. Beyond est+n ≤ limit, it lets a node take, per
// flush, at most its share ⌈room/competing⌉ of the room its peers see:
// when room appears (a bucket leaves the window) every node sees it at
// once and would otherwise fill it before hearing the others, and the
// cluster would admit up to competing times the room.
func admits(limit, est, unsent float64, competing int, n float64) bool {
	if est+n > limit {
		return false
	}
	if competing <= 1 {
		return true
	}
	seen := limit - (est - unsent)
	return unsent+n <= math.Ceil(seen/float64(competing))
}

// retryAfter returns how long after now until n more events fit under
// limit, assuming no further admissions: the key's buckets leave the
// window oldest first. ok is false if n never fits.
func (m keyModel) retryAfter(now int64, limit, n int, est float64, slots []crdt.WindowSlot) (time.Duration, bool) {
	if n > limit {
		return 0, false
	}
	need := est + float64(n) - float64(limit)
	if need <= 0 {
		return 0, true
	}
	cur := m.bucket(now)
	var freed float64
	for i := cur - m.nb; i <= cur; i++ {
		for _, s := range slots {
			for _, b := range s.Buckets {
				if b.Index == i {
					freed += float64(b.N)
				}
			}
		}
		if freed >= need {
			return time.Duration((i+m.nb+1)*m.width - now), true
		}
	}
	return time.Duration((cur+1)*m.width - now + 2*m.lag), true
}

// oldest returns the start of the key's oldest bucket inside the window
// ending at now, and false if it has none.
func (m keyModel) oldest(now int64, slots []crdt.WindowSlot) (int64, bool) {
	cur := m.bucket(now)
	first, ok := int64(0), false
	for _, s := range slots {
		for _, b := range s.Buckets {
			if b.Index >= cur-m.nb && b.Index <= cur+m.nb && (!ok || b.Index < first) {
				first, ok = b.Index, true
			}
		}
	}
	return first * m.width, ok
}
