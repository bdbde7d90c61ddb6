package ratelimit

import (
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/stretchr/testify/assert"
)

// ev is an event at t (ns) of rep, n events, in 1 ms ticks.
func ev(t int64, rep uint16, n uint32) crdt.KeyEvent {
	return crdt.KeyEvent{Tick: t / int64(time.Millisecond), N: n, Rep: rep}
}

func sum(events []crdt.KeyEvent) uint64 {
	var n uint64
	for _, x := range events {
		n += uint64(x.N)
	}
	return n
}

func TestKeyModelView(t *testing.T) {
	// W = 1 s in 1 ms ticks, reserve 40 ms.
	m := keyModel{window: int64(time.Second), width: int64(time.Millisecond), reserve: ms(40)}
	now := t0 + int64(time.Second)
	events := []crdt.KeyEvent{
		ev(t0-ms(100), 1, 5),  // peer 1: left 100 ms ago, beyond the reserve
		ev(t0-ms(20), 1, 2),   // peer 1: left 20 ms ago: reserved for it
		ev(t0-ms(10), 2, 3),   // peer 2: left 10 ms ago: reserved...
		ev(t0-ms(5), 0, 2),    // own: left 5 ms ago: mine
		ev(t0, 0, 1),          // own: tick [t0, t0+1ms) ends after now−W: in
		ev(t0+ms(500), 1, 4),  // peer 1, in
		ev(now-ms(5), 2, 1),   // peer 2, in, recent: takes back one of its 3
		ev(now-ms(1), 0, 1),   // own, recent: takes back one of its 2
		ev(now+ms(500), 0, 1), // own, ahead of now: counts as now
	}
	before := func(rep uint16) bool { return rep == 2 } // peer 2 sorts before this node
	v := m.view(now, events, sum(events), before)
	assert.Equal(t, uint64(1+4+1+1+1), v.count)
	assert.Equal(t, uint64(2+(3-1)), v.reserved)
	assert.Zero(t, v.mine, "both own places were taken back (the event ahead is recent too)")
	assert.Equal(t, uint64(2), v.mineLeft)
	assert.Equal(t, 2, v.active, "this node and peer 2 admitted within the reserve; peer 1 did not")
	assert.Equal(t, 1, v.ahead)

	// Once the reserve has passed, the room is anyone's.
	later := m.view(now+ms(60), events, sum(events), before)
	assert.Equal(t, uint64(0), later.reserved)
	assert.Equal(t, 1, later.active)
}

func TestAllowanceClaimsAndShares(t *testing.T) {
	// Alone: the whole room but what peers hold.
	assert.Equal(t, 10.0, allowance(100, keyView{count: 90, active: 1}, 0))
	assert.Equal(t, 4.0, allowance(100, keyView{count: 90, reserved: 6, active: 1}, 0))
	assert.Equal(t, 0.0, allowance(100, keyView{count: 101, active: 1}, 0))
	// A race left 9 more than the limit: 5 places free up, claimed by this
	// node (3) and its peers (6): it gets 5·3/9, rounded down.
	assert.Equal(t, 1.0, allowance(100, keyView{count: 95, reserved: 6, mine: 3, mineLeft: 3, active: 4}, 0))
	// Four active nodes see 10 free places: each takes ⌊10/4⌋ = 2 per
	// flush, and the two first in rank one more.
	assert.Equal(t, 3.0, allowance(100, keyView{count: 90, active: 4, ahead: 1}, 0))
	assert.Equal(t, 2.0, allowance(100, keyView{count: 90, active: 4, ahead: 2}, 0))
	assert.Equal(t, 1.0, allowance(100, keyView{count: 92, mineSince: 2, active: 4, ahead: 0}, 2), "2 taken this flush, a third fits")
	// Its own freed places come on top of the share.
	assert.Equal(t, 6.0, allowance(100, keyView{count: 85, mine: 3, mineLeft: 3, active: 4, ahead: 3}, 0), "3 + ⌊12/4⌋")
	// Taking its own back does not use up the share: 2 of 3 taken back.
	assert.Equal(t, 4.0, allowance(100, keyView{count: 87, mine: 1, mineLeft: 3, mineSince: 2, active: 4, ahead: 3}, 2), "1 + ⌊12/4⌋")
	// Plenty of room: the share does not bind below it.
	assert.True(t, admits(100, keyView{count: 10, active: 10}, 5, 1))
}

func TestKeyModelRetryAfterExact(t *testing.T) {
	m := keyModel{window: int64(time.Second), width: int64(time.Millisecond), reserve: ms(40)}
	events := []crdt.KeyEvent{
		ev(t0, 0, 1),         // own: frees at t0+1s+1ms
		ev(t0+ms(100), 1, 1), // peer: frees at t0+1.1s+1ms, +40 ms reserve
		ev(t0+ms(200), 0, 1), // own: frees at t0+1.2s+1ms
	}
	now := t0 + ms(300)
	v := m.view(now, events, sum(events), nil)
	d, ok := m.retryAfter(now, 3, 1, v, events)
	assert.True(t, ok)
	assert.Equal(t, time.Duration(ms(701)), d, "the first own event's end")
	d, _ = m.retryAfter(now, 3, 2, v, events)
	assert.Equal(t, time.Duration(ms(841)), d, "then the peer's, its reserve after it left")
	d, _ = m.retryAfter(now, 3, 3, v, events)
	assert.Equal(t, time.Duration(ms(901)), d, "then this node's second")
	_, ok = m.retryAfter(now, 3, 4, v, events)
	assert.False(t, ok, "more than the limit never fits")
	d, _ = m.retryAfter(now, 10, 1, v, events)
	assert.Equal(t, time.Duration(0), d)
	// Never more than W, even with the reserve added.
	late := []crdt.KeyEvent{ev(now, 1, 3)}
	d, _ = m.retryAfter(now, 3, 1, m.view(now, late, sum(late), nil), late)
	assert.Equal(t, time.Second, d)

	first, ok := m.oldest(now, events)
	assert.True(t, ok)
	assert.Equal(t, t0, first)
	assert.Equal(t, t0+ms(201)+int64(time.Second), m.newestEnd(now, events))
}
