package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm/swarmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeyedSmallLimitLoopback is the small-limit case on three real
// loopback nodes: one client, L = 5 per 2 s, offered 4× (a request every
// 100 ms), round-robin over the nodes, for three windows. Each request
// waits, with a deadline, until every node has heard of the previous
// admission (so the test does not depend on the machine's speed, only on
// delivery); the instants passed are the schedule's. Every sliding window
// after the first holds 4 or 5 admissions, never more; a denial's
// RetryAfter is never more than W.
func TestKeyedSmallLimitLoopback(t *testing.T) {
	const L, W, gap, requests = 5, 2 * time.Second, 100 * time.Millisecond, 60
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	var lims []*KeyedLimiter
	for _, nd := range c.Nodes() {
		k, err := NewKeyed(nd, "client", KeyedConfig{Limit: L, Window: W})
		require.NoError(t, err)
		t.Cleanup(k.Close)
		lims = append(lims, k)
	}
	h := lims[0].hasher.hash("alice")
	newest := func(k *KeyedLimiter) int64 {
		var tick int64 = -1
		_ = k.shared.Read(func(v *crdt.KeyedWindow) {
			if ev := v.Events(h); len(ev) > 0 {
				tick = ev[len(ev)-1].Tick
			}
		})
		return tick
	}
	start := time.Now()
	var admitted []time.Time
	for i := range requests {
		at := start.Add(time.Duration(i) * gap)
		if d := time.Until(at); d > 0 {
			time.Sleep(d) // pacing the schedule, not waiting for a result
		}
		k := lims[i%3]
		dec := k.DecideN(at, "alice", 1)
		if !dec.Allowed {
			assert.LessOrEqual(t, dec.RetryAfter, W, "request %d", i)
			continue
		}
		admitted = append(admitted, at)
		want := at.UnixNano() / k.model.width
		swarmtest.WaitFor(t, 10*time.Second, func() error {
			for j, o := range lims {
				if got := newest(o); got != want {
					return fmt.Errorf("node %d: newest event at tick %d, want %d", j, got, want)
				}
			}
			return nil
		})
	}
	for end := start.Add(W); end.Before(start.Add(requests * gap)); end = end.Add(gap / 2) {
		n := 0
		for _, a := range admitted {
			if a.After(end.Add(-W)) && !a.After(end) {
				n++
			}
		}
		assert.GreaterOrEqual(t, n, 4, "window ending %v", end.Sub(start))
		assert.LessOrEqual(t, n, 5, "window ending %v", end.Sub(start))
	}
	assert.Len(t, admitted, 15, "5 per window over three windows")
}

// TestLimitersDenyOnceStopped: a Limiter and a KeyedLimiter behave alike
// after their own Close and after their node stops: they deny.
func TestLimitersDenyOnceStopped(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	for i, stop := range []func(l *Limiter, k *KeyedLimiter){
		func(l *Limiter, k *KeyedLimiter) { _ = l.Close(); k.Close() },
		func(*Limiter, *KeyedLimiter) { _ = c.Node(1).Close() },
	} {
		nd := c.Node(i)
		l, err := New(nd, "global", Config{Limit: 100, Window: time.Minute})
		require.NoError(t, err)
		k, err := NewKeyed(nd, "keyed", KeyedConfig{Limit: 100, Window: time.Minute})
		require.NoError(t, err)
		require.True(t, l.Allow())
		require.True(t, k.AllowN(time.Now(), "alice", 1))
		stop(l, k)
		assert.False(t, l.Allow(), "case %d: Limiter", i)
		assert.False(t, k.AllowN(time.Now(), "alice", 1), "case %d: KeyedLimiter", i)
		assert.False(t, l.AllowN(time.Now(), 0), "case %d: even for 0 events", i)
		assert.False(t, k.AllowN(time.Now(), "alice", 0), "case %d: even for 0 events", i)
		assert.Equal(t, InfDuration, l.Decide().RetryAfter)
		assert.Equal(t, InfDuration, k.DecideN(time.Now(), "alice", 1).RetryAfter)
		assert.ErrorIs(t, l.Wait(t.Context()), ErrClosed)
		_ = l.Close()
		k.Close()
	}
}
