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

func TestKeyModelView(t *testing.T) {
	// W = 1 s in 1 ms ticks, reserve 40 ms.
	m := keyModel{window: int64(time.Second), width: int64(time.Millisecond), reserve: ms(40)}
	now := t0 + int64(time.Second)
	events := []crdt.KeyEvent{
		ev(t0-ms(100), 1, 5),  // peer 1: left 100 ms ago, beyond the reserve
		ev(t0-ms(20), 1, 2),   // peer 1: left 20 ms ago: reserved
		ev(t0-ms(10), 2, 3),   // peer 2: left 10 ms ago: reserved...
		ev(t0, 0, 1),          // own: tick [t0, t0+1ms) ends after now−W: in
		ev(t0+ms(500), 1, 4),  // peer 1, in
		ev(now-ms(5), 2, 1),   // peer 2, in, recent: takes back one of its 3
		ev(now+ms(500), 0, 1), // own, ahead of now: counts as now
	}
	v := m.view(now, events)
	assert.Equal(t, uint64(1+4+1+1), v.count)
	assert.Equal(t, uint64(2+(3-1)), v.reserved)
	assert.Equal(t, 3, v.competing, "self, peers 1 and 2")

	// 10 − 7 counted − 4 reserved: no room for anyone but the peers.
	assert.False(t, admits(10, v, 0, 1))
	assert.True(t, admits(12, v, 0, 1))
	// Once the reserve has passed, the room is anyone's.
	later := m.view(now+ms(60), events)
	assert.Equal(t, uint64(0), later.reserved)
}

func TestAdmitsSharesFreshRoom(t *testing.T) {
	// Alone, the whole room.
	assert.True(t, admits(100, keyView{count: 90, competing: 1}, 0, 10))
	assert.False(t, admits(100, keyView{count: 90, competing: 1}, 0, 11))
	assert.False(t, admits(100, keyView{count: 85, reserved: 6, competing: 1}, 0, 10), "reserved room is the peers'")
	// Four competitors see 10 places: each may take ⌈10/4⌉ = 3 per flush.
	assert.True(t, admits(100, keyView{count: 90, competing: 4}, 0, 3))
	assert.True(t, admits(100, keyView{count: 92, competing: 4}, 2, 1), "2 taken, a third fits")
	assert.False(t, admits(100, keyView{count: 93, competing: 4}, 3, 1), "share taken until the next flush")
	// Plenty of room: the share does not bind.
	assert.True(t, admits(100, keyView{count: 10, competing: 10}, 5, 1))
}

func TestKeyModelRetryAfterExact(t *testing.T) {
	m := keyModel{window: int64(time.Second), width: int64(time.Millisecond), reserve: ms(40)}
	events := []crdt.KeyEvent{
		ev(t0, 0, 1),         // own: frees at t0+1s+1ms
		ev(t0+ms(100), 1, 1), // peer: frees at t0+1.1s+1ms, +40 ms reserve
		ev(t0+ms(200), 0, 1), // own: frees at t0+1.2s+1ms
	}
	now := t0 + ms(300)
	v := m.view(now, events)
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
	d, _ = m.retryAfter(now, 3, 1, m.view(now, late), late)
	assert.Equal(t, time.Second, d)

	first, ok := m.oldest(now, events)
	assert.True(t, ok)
	assert.Equal(t, t0, first)
	assert.Equal(t, t0+ms(201)+int64(time.Second), m.newestEnd(now, events))
}
