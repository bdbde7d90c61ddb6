package ratelimit

import (
	"math"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// estimator is the pure core of a Limiter: this node's own admissions and
// what it knows of every peer, in buckets of the window, and the decision
// for any instant. It reads no clock and starts no goroutine: every method
// takes the instant as Unix nanoseconds, so tests walk a timeline of fixed
// instants. It is not safe for concurrent use; the Limiter locks.
//
// The estimate of the cluster's admissions in the window ending at now is
//
//	est(now) = Σ own[cur−B …] + Σ_peers known_p[cur−B …]
//	         + Σ_peers rate_p · clamp(now − heard_p + lag, 0, 2·lag)
//
// where cur is the bucket of now, known_p are peer p's bucket counts as
// last received, heard_p is when they last changed, and rate_p is p's rate
// over the span before heard_p. The last term is what peers admitted that
// is still in flight: an admitting peer reports about every lag, so one
// silent for longer is throttled, idle or cut off, and is not assumed to
// keep admitting (which would make throttled nodes starve each other). The oldest bucket, only partly inside the
// window, counts in full: the estimate never falls below the true count
// because of bucketing, so buckets never cause over-admission; an event
// frees its place when its whole bucket has left the window.
type estimator struct {
	limit float64
	width int64 // bucket width in nanoseconds
	nb    int64 // B, buckets per window; the estimate spans B+1 buckets
	lag   int64 // how long a peer's counts take to reach us
	hold  int64 // longest extrapolation, 2·lag
	span  int64 // buckets over which a peer's rate is measured

	own   ring
	peers ring // sum over peers of their known counts
	cur   int64
	sum   float64 // Σ own and peers over [cur−B, cur+B+1], valid for cur

	// newest bucket counted, own and peers': where resetAt starts looking
	ownNewest, peersNewest int64

	rates []peerRate // one per peer with a non-zero rate
	state map[crdt.Replica]*peerState
}

// peerRate is a silent peer's extrapolation: rate events per nanosecond
// since heard.
type peerRate struct {
	rate  float64
	heard int64
}

// peerState is what the estimator remembers of a peer between refreshes:
// a signature of its newest bucket, to notice when it changes.
type peerState struct {
	newest, n int64
	heard     int64
	rate      float64
	seen      bool // present in the latest refresh
}

// ring holds the counts of the last 2B+2 buckets, slot idx mod (2B+2):
// a window's B+1 and as many again, so that a request stamped up to a
// window before the newest bucket seen (a batch stamped before a refresh
// brought newer buckets, on a starved process) still finds its window
// whole, and counts the newer buckets too.
type ring struct {
	idx []int64
	n   []uint64
}

func newRing(size int) ring {
	r := ring{idx: make([]int64, size), n: make([]uint64, size)}
	for i := range r.idx {
		r.idx[i] = math.MinInt64
	}
	return r
}

func (r *ring) slot(idx int64) int {
	m := int64(len(r.idx))
	return int(((idx % m) + m) % m)
}

// add counts n in bucket idx, evicting what the slot held before.
func (r *ring) add(idx int64, n uint64) {
	s := r.slot(idx)
	if r.idx[s] != idx {
		r.idx[s], r.n[s] = idx, 0
	}
	r.n[s] += n
}

// get returns the count of bucket idx (0 if the ring no longer holds it).
func (r *ring) get(idx int64) uint64 {
	s := r.slot(idx)
	if r.idx[s] != idx {
		return 0
	}
	return r.n[s]
}

func (r *ring) reset() {
	for i := range r.idx {
		r.idx[i], r.n[i] = math.MinInt64, 0
	}
}

func newEstimator(limit int, window time.Duration, buckets int, lag, rateSpan time.Duration) *estimator {
	width := int64(window) / int64(buckets)
	span := int64(rateSpan) / width
	if int64(rateSpan)%width != 0 {
		span++
	}
	span = min(max(span, 1), int64(buckets))
	return &estimator{
		limit: float64(limit),
		width: width,
		nb:    int64(buckets),
		lag:   int64(lag),
		hold:  2 * int64(lag),
		span:  span,
		own:   newRing(2 * (buckets + 1)),
		peers: newRing(2 * (buckets + 1)),
		cur:   math.MinInt64,
		state: make(map[crdt.Replica]*peerState),

		ownNewest:   math.MinInt64,
		peersNewest: math.MinInt64,
	}
}

func (e *estimator) bucket(now int64) int64 {
	q := now / e.width
	if now%e.width != 0 && now < 0 {
		q--
	}
	return q
}

// advance moves the running sum to the bucket of now.
func (e *estimator) advance(now int64) int64 {
	cur := e.bucket(now)
	if cur != e.cur {
		e.cur = cur
		e.resum()
	}
	return cur
}

// resum recomputes the sum of the buckets from cur−B on: the window, and
// any newer bucket (counted as if now, never left out).
func (e *estimator) resum() {
	var s uint64
	for i := e.cur - e.nb; i <= e.cur+e.nb+1; i++ {
		s += e.own.get(i) + e.peers.get(i)
	}
	e.sum = float64(s)
}

// extrapolated is what silent peers have probably admitted that this node
// has not heard of yet.
func (e *estimator) extrapolated(now int64) float64 {
	var x float64
	for _, p := range e.rates {
		d := now - p.heard + e.lag
		if d <= 0 || now-p.heard > e.span*e.width {
			continue // the rate is older than its own span: forgotten
		}
		// An admitting peer reports every sync and flush interval (about
		// lag); one silent for longer is throttled, idle or cut off, and
		// is not assumed to keep admitting.
		x += p.rate * float64(min(d, e.hold))
	}
	return x
}

// estimate returns est(now), the cluster's admissions in the window ending
// at now as this node believes them.
func (e *estimator) estimate(now int64) float64 {
	e.advance(now)
	return e.sum + e.extrapolated(now)
}

// take admits n events at now if the estimate leaves room for them, and
// counts them as this node's own. It returns whether it did and the
// estimate before the call.
func (e *estimator) take(now int64, n uint64) (bool, float64) {
	cur := e.advance(now)
	est := e.sum + e.extrapolated(now)
	if est+float64(n) > e.limit {
		return false, est
	}
	e.own.add(cur, n)
	e.ownNewest = max(e.ownNewest, cur)
	e.sum += float64(n)
	return true, est
}

// retryAfter returns how long after now it takes until n more events fit,
// assuming no further admissions anywhere: the oldest buckets leave the
// window one by one. ok is false when n never fits (n > limit).
func (e *estimator) retryAfter(now int64, n uint64, est float64) (time.Duration, bool) {
	if float64(n) > e.limit {
		return 0, false
	}
	need := est + float64(n) - e.limit
	if need <= 0 {
		return 0, true
	}
	cur := e.advance(now)
	var freed float64
	for i := cur - e.nb; i <= cur+e.nb+1; i++ {
		freed += float64(e.own.get(i) + e.peers.get(i))
		if freed >= need {
			// Bucket i leaves the estimate when bucket i+B+1 begins.
			return time.Duration((i+e.nb+1)*e.width - now), true
		}
	}
	// What is missing is extrapolation, which ends within hold.
	return time.Duration((cur+1)*e.width - now + e.hold), true
}

// resetAt returns when every bucket counted now has left the window.
func (e *estimator) resetAt(now int64) int64 {
	cur := e.advance(now)
	for i := min(cur+e.nb+1, max(e.ownNewest, e.peersNewest)); i >= cur-e.nb; i-- {
		if e.own.get(i)+e.peers.get(i) > 0 {
			return (i + e.nb + 1) * e.width
		}
	}
	return now
}

// setPeers replaces what the estimator knows of the peers with the slots
// of a WindowCounter as merged at now, skipping self: buildPeers then
// installPeers.
func (e *estimator) setPeers(now int64, self crdt.Replica, slots []crdt.WindowSlot) {
	var v peerView
	e.buildPeers(now, self, slots, &v)
	e.installPeers(&v)
}

// peerView is the peers' part of the estimator, built apart and swapped
// in, so that the Limiter holds its lock only for the swap.
type peerView struct {
	ring   ring
	rates  []peerRate
	newest int64
}

// buildPeers computes into v the peers' bucket counts and extrapolation
// rates from the slots as merged at now. A peer whose newest bucket
// changed since the previous build is heard at now, and its rate is
// measured over the last span buckets up to now. It touches only the
// estimator's configuration and its peer memory (state), which belongs to
// the one goroutine that builds; it may run without the Limiter's lock.
func (e *estimator) buildPeers(now int64, self crdt.Replica, slots []crdt.WindowSlot, v *peerView) {
	cur := e.bucket(now)
	if len(v.ring.idx) != len(e.own.idx) {
		v.ring = newRing(len(e.own.idx))
	} else {
		v.ring.reset()
	}
	v.rates = v.rates[:0]
	v.newest = math.MinInt64
	for _, p := range e.state {
		p.seen = false
	}
	for i := range slots {
		s := &slots[i]
		if s.Replica == self || len(s.Buckets) == 0 {
			continue
		}
		for _, b := range s.Buckets {
			idx := min(b.Index, cur)  // a peer whose clock runs ahead counts now
			if idx > cur-2*(e.nb+1) { // what the ring holds
				v.ring.add(idx, b.N)
				v.newest = max(v.newest, idx)
			}
		}
		last := s.Buckets[len(s.Buckets)-1]
		p := e.state[s.Replica]
		if p == nil {
			p = &peerState{}
			e.state[s.Replica] = p
		}
		p.seen = true
		if p.newest != last.Index || p.n != int64(last.N) || p.heard == 0 {
			p.newest, p.n, p.heard = last.Index, int64(last.N), now
			p.rate = e.rateOf(now, cur, s.Buckets)
		}
		if p.rate > 0 {
			v.rates = append(v.rates, peerRate{rate: p.rate, heard: p.heard})
		}
	}
	for r, p := range e.state {
		if !p.seen {
			delete(e.state, r)
		}
	}
}

// installPeers swaps v in; v receives the previous view, to be reused.
func (e *estimator) installPeers(v *peerView) {
	e.peers, v.ring = v.ring, e.peers
	e.rates, v.rates = v.rates, e.rates
	e.peersNewest = v.newest
	e.resum()
}

// rateOf measures a peer's rate in events per nanosecond over the last
// span buckets up to now, the current one partly elapsed.
func (e *estimator) rateOf(now, cur int64, b []crdt.Bucket) float64 {
	from := cur - e.span + 1
	var n uint64
	for _, x := range b {
		if x.Index >= from && x.Index <= cur {
			n += x.N
		} else if x.Index > cur {
			n += x.N
		}
	}
	elapsed := now - from*e.width
	if n == 0 || elapsed <= 0 {
		return 0
	}
	return float64(n) / float64(elapsed)
}

// reserve counts n events as this node's own at the earliest instant from
// now at which they fit if nothing else were admitted, and returns how long
// after now that is. ok is false (and nothing is counted) when they never
// fit or would not fit within a window.
func (e *estimator) reserve(now int64, n uint64) (delay time.Duration, ok bool) {
	ok, est := e.take(now, n)
	if ok {
		return 0, true
	}
	d, fits := e.retryAfter(now, n, est)
	if !fits || int64(d) > e.nb*e.width {
		return 0, false
	}
	idx := e.bucket(now + int64(d))
	e.own.add(idx, n)
	e.ownNewest = max(e.ownNewest, idx)
	e.sum += float64(n) // a newer bucket counts as if now
	return d, true
}
