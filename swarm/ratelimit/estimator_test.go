package ratelimit

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A timeline in whole buckets of 100 ms (W = 1 s, B = 10) from t0.
const (
	testWidth = int64(100 * time.Millisecond)
	t0        = int64(1000 * time.Second) // start of bucket 10000
	b0        = t0 / testWidth
)

var (
	self  = crdt.Replica{Node: "self", Incarnation: 1}
	peerA = crdt.Replica{Node: "a", Incarnation: 1}
	peerB = crdt.Replica{Node: "b", Incarnation: 1}
)

func ms(n int64) int64 { return n * int64(time.Millisecond) }

func TestEstimatorOwnAdmissionsFillTheWindow(t *testing.T) {
	e := newEstimator(10, time.Second, 10, 0, 100*time.Millisecond)
	for i := range 10 {
		ok, est := e.take(t0+ms(int64(10*i)), 1)
		require.True(t, ok, "event %d", i)
		assert.Equal(t, float64(i), est)
	}
	ok, est := e.take(t0+ms(500), 1)
	assert.False(t, ok, "the 11th event in the window")
	assert.Equal(t, 10.0, est)

	// The oldest bucket counts in full until it has left the window.
	ok, _ = e.take(t0+ms(1099), 1)
	assert.False(t, ok, "bucket b0 is still partly inside (t0+99ms, t0+1099ms]")
	ok, est = e.take(t0+ms(1100), 1)
	assert.True(t, ok, "bucket b0 has left the window")
	assert.Equal(t, 0.0, est)
}

func TestEstimatorRetryAfterAndReset(t *testing.T) {
	e := newEstimator(10, time.Second, 10, 0, 100*time.Millisecond)
	for range 6 {
		e.take(t0, 1)
	}
	for range 4 {
		e.take(t0+ms(300), 1)
	}
	now := t0 + ms(500)
	est := e.estimate(now)
	require.Equal(t, 10.0, est)
	d, ok := e.retryAfter(now, 1, est)
	require.True(t, ok)
	assert.Equal(t, 600*time.Millisecond, d, "b0 leaves at t0+1.1s")
	d, ok = e.retryAfter(now, 7, est)
	require.True(t, ok)
	assert.Equal(t, 900*time.Millisecond, d, "7 need b0 (6) and b0+3 (4), which leaves at t0+1.4s")
	_, ok = e.retryAfter(now, 11, est)
	assert.False(t, ok, "more than the limit never fits")
	assert.Equal(t, t0+ms(1400), e.resetAt(now))
	assert.Equal(t, t0+ms(1500), e.resetAt(t0+ms(1500)), "empty window: reset is now")
}

func TestEstimatorExtrapolatesSilentPeers(t *testing.T) {
	// lag 10 ms (so at most 20 ms extrapolated), rate measured over the
	// current bucket.
	e := newEstimator(100, time.Second, 10, 10*time.Millisecond, 100*time.Millisecond)
	heard := t0 + ms(50)
	e.setPeers(heard, self, []crdt.WindowSlot{
		{Replica: peerA, Buckets: []crdt.Bucket{{Index: b0 - 3, N: 7}, {Index: b0, N: 5}}},
		{Replica: self, Buckets: []crdt.Bucket{{Index: b0, N: 99}}}, // ignored: own counts are local
	})
	// A's rate: 5 events in the 50 ms of the current bucket = 0.1/ms.
	const rate = 5.0 / 50
	assert.InDelta(t, 12+rate*10, e.estimate(heard), 1e-9, "known 12 plus the lag")
	assert.InDelta(t, 12+rate*15, e.estimate(heard+ms(5)), 1e-9)
	assert.InDelta(t, 12+rate*20, e.estimate(heard+ms(30)), 1e-9, "capped at 2·lag: a silent peer is throttled or idle")

	// The same state again: A is still silent, heard stays.
	e.setPeers(heard+ms(30), self, []crdt.WindowSlot{
		{Replica: peerA, Buckets: []crdt.Bucket{{Index: b0 - 3, N: 7}, {Index: b0, N: 5}}},
	})
	assert.InDelta(t, 12+rate*20, e.estimate(heard+ms(30)), 1e-9)

	// News from A: heard moves, the rate is measured again.
	now := t0 + ms(80)
	e.setPeers(now, self, []crdt.WindowSlot{
		{Replica: peerA, Buckets: []crdt.Bucket{{Index: b0 - 3, N: 7}, {Index: b0, N: 8}}},
	})
	assert.InDelta(t, 15+8.0/80*10, e.estimate(now), 1e-9)

	// The decision uses the estimate: 100 − 15 − 1 = 84 more fit now.
	ok, _ := e.take(now, 84)
	assert.True(t, ok)
	ok, _ = e.take(now, 1)
	assert.False(t, ok)

	// A's bucket b0−3 leaves the window at b0+8; A's rate, older than its
	// span, is forgotten.
	later := t0 + ms(800)
	assert.InDelta(t, 84+8, e.estimate(later), 1e-9)

	// A disappears (expired or departed): only own counts remain.
	e.setPeers(later, self, nil)
	assert.InDelta(t, 84, e.estimate(later), 1e-9)
	assert.Empty(t, e.state)
}

func TestEstimatorPeerClockAheadCountsNow(t *testing.T) {
	e := newEstimator(10, time.Second, 10, 0, 100*time.Millisecond)
	e.setPeers(t0, self, []crdt.WindowSlot{
		{Replica: peerB, Buckets: []crdt.Bucket{{Index: b0 + 5, N: 4}}},
	})
	assert.Equal(t, 4.0, e.estimate(t0))
	ok, _ := e.take(t0, 7)
	assert.False(t, ok)
	ok, _ = e.take(t0, 6)
	assert.True(t, ok)
}

func TestEstimatorLagZeroTurnsExtrapolationOff(t *testing.T) {
	e := newEstimator(10, time.Second, 10, 0, 100*time.Millisecond)
	e.setPeers(t0+ms(50), self, []crdt.WindowSlot{
		{Replica: peerA, Buckets: []crdt.Bucket{{Index: b0, N: 5}}},
	})
	assert.Equal(t, 5.0, e.estimate(t0+ms(90)))
}

func TestEstimatorNegativeTimeBuckets(t *testing.T) {
	e := newEstimator(2, time.Second, 10, 0, 100*time.Millisecond)
	assert.Equal(t, int64(-1), e.bucket(-1))
	assert.Equal(t, int64(-1), e.bucket(-testWidth))
	assert.Equal(t, int64(0), e.bucket(0))
	ok, _ := e.take(-1, 2)
	assert.True(t, ok)
	ok, _ = e.take(0, 1)
	assert.False(t, ok)
	assert.False(t, math.IsNaN(e.estimate(0)))
}

func TestScaledLimitIsTheLiveShareOfKnownMembers(t *testing.T) {
	at := time.Unix(100, 0)
	const w = 10 * time.Second // horizon: max(10·W, 1 min) = 100 s
	members := func(alive, failed, left int, failedSince time.Time) []swarm.Member {
		var ms []swarm.Member
		add := func(n int, st swarm.MemberState, since time.Time) {
			for range n {
				ms = append(ms, swarm.Member{Name: fmt.Sprint(len(ms)), State: st, Since: since})
			}
		}
		add(alive, swarm.MemberAlive, at)
		add(failed, swarm.MemberFailed, failedSince)
		add(left, swarm.MemberLeft, at)
		return ms
	}
	assert.Equal(t, 1000.0, scaledLimit(at, 1000, w, members(4, 0, 0, at)))
	assert.Equal(t, 500.0, scaledLimit(at, 1000, w, members(2, 2, 0, at)), "half the cluster unreachable")
	assert.Equal(t, 500.0, scaledLimit(at.Add(99*time.Second), 1000, w, members(2, 2, 0, at)),
		"a partition keeps scaling for as long as it lasts, up to the horizon")
	assert.Equal(t, 1000.0, scaledLimit(at.Add(101*time.Second), 1000, w, members(2, 2, 0, at)),
		"members failed longer than the horizon are gone")
	assert.Equal(t, 1000.0, scaledLimit(at, 1000, w, members(2, 0, 2, at)), "members that left shrank the cluster")
	assert.Equal(t, 1000.0, scaledLimit(at, 1000, w, nil), "no member list: itself alone")
}

// A request stamped before the refresh that brought a peer's newer bucket
// must still count that bucket.
func TestEstimatorCountsBucketsNewerThanTheRequest(t *testing.T) {
	e := newEstimator(10, time.Second, 10, 0, 100*time.Millisecond)
	e.setPeers(t0+ms(250), self, []crdt.WindowSlot{
		{Replica: peerA, Buckets: []crdt.Bucket{{Index: b0 + 2, N: 9}}},
	})
	ok, est := e.take(t0+ms(150), 2)
	assert.False(t, ok, "the peer's 9 events at t0+200ms count for a request stamped t0+150ms")
	assert.Equal(t, 9.0, est)
	ok, _ = e.take(t0+ms(150), 1)
	assert.True(t, ok)
	// And the window of an instant a few buckets back is still whole.
	e.setPeers(t0+ms(650), self, []crdt.WindowSlot{
		{Replica: peerA, Buckets: []crdt.Bucket{{Index: b0 + 2, N: 9}}},
	})
	assert.Equal(t, 10.0, e.estimate(t0+ms(150)))
}

// BenchmarkEstimatorTakeWith9Peers is the decision of a Limiter in a
// cluster of 10 with every peer admitting (so each is extrapolated), as
// AllowN makes it under its lock.
func BenchmarkEstimatorTakeWith9Peers(b *testing.B) {
	e := newEstimator(1<<40, 10*time.Second, 200, 20*time.Millisecond, time.Second)
	width := int64(10*time.Second) / 200
	var slots []crdt.WindowSlot
	for p := range 9 {
		var bs []crdt.Bucket
		for i := int64(-199); i <= 0; i++ {
			bs = append(bs, crdt.Bucket{Index: t0/width + i, N: 5})
		}
		slots = append(slots, crdt.WindowSlot{Replica: crdt.Replica{Node: string(rune('a' + p)), Incarnation: 1}, Buckets: bs})
	}
	e.setPeers(t0, self, slots)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now += int64(time.Microsecond) / 100 // stays within the peers' extrapolation
		e.take(now, 1)
	}
}
