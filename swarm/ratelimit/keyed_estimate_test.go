package ratelimit

import (
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/stretchr/testify/assert"
)

func TestKeyModelEstimate(t *testing.T) {
	// W = 1 s in 10 buckets, lag 10 ms.
	m := keyModel{width: testWidth, nb: 10, lag: ms(10)}
	heardA := t0 + ms(50)
	heard := func(r crdt.Replica) int64 {
		if r == peerA {
			return heardA
		}
		return 0 // peerB never heard: no extrapolation
	}
	slots := []crdt.WindowSlot{
		{Replica: peerA, Buckets: []crdt.Bucket{{Index: b0 - 1, N: 6}, {Index: b0, N: 3}}},
		{Replica: peerB, Buckets: []crdt.Bucket{{Index: b0 - 12, N: 50}}}, // left the window
		{Replica: self, Buckets: []crdt.Bucket{{Index: b0, N: 2}}},
	}
	// A's rate over buckets b0−1 and b0 up to heard: 9 events in 150 ms.
	const rate = 9.0 / 150
	est, competing := m.estimate(heardA, self, slots, heard)
	assert.InDelta(t, 11+rate*10, est, 1e-9)
	assert.Equal(t, 2, competing, "self and A; B has nothing in the window")
	est, _ = m.estimate(heardA+ms(5), self, slots, heard)
	assert.InDelta(t, 11+rate*15, est, 1e-9)
	est, _ = m.estimate(heardA+ms(50), self, slots, heard)
	assert.InDelta(t, 11+rate*20, est, 1e-9, "capped at 2·lag")
	est, _ = m.estimate(heardA+ms(250), self, slots, heard)
	assert.InDelta(t, 11, est, 1e-9, "a rate older than two buckets is forgotten")

	d, ok := m.retryAfter(heardA+ms(250), 12, 2, 11, slots)
	assert.True(t, ok)
	assert.Equal(t, 700*time.Millisecond, d, "b0−1 (6 events) leaves at t0+1.0s")
	first, ok := m.oldest(heardA, slots)
	assert.True(t, ok)
	assert.Equal(t, t0-testWidth, first)
}

func TestAdmitsSharesFreshRoom(t *testing.T) {
	// Alone, the whole room.
	assert.True(t, admits(100, 90, 0, 1, 10))
	assert.False(t, admits(100, 90, 0, 1, 11))
	// Four competitors see 10 places: each may take ⌈10/4⌉ = 3 per flush.
	assert.True(t, admits(100, 90, 0, 4, 3))
	assert.True(t, admits(100, 92, 2, 4, 1), "2 taken, a third fits")
	assert.False(t, admits(100, 93, 3, 4, 1), "share taken until the next flush")
	// Plenty of room: the share does not bind.
	assert.True(t, admits(100, 10, 5, 10, 1))
}
