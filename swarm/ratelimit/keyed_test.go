package ratelimit_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/swarmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newKeyed(t testing.TB, cfg ratelimit.KeyedConfig) *ratelimit.KeyedLimiter {
	t.Helper()
	k, err := ratelimit.NewKeyed(newNode(t), "clients", cfg)
	require.NoError(t, err)
	t.Cleanup(k.Close)
	return k
}

func TestKeyedConfigErrors(t *testing.T) {
	n := newNode(t)
	for _, cfg := range []ratelimit.KeyedConfig{
		{Limit: 0, Window: time.Second},
		{Limit: 1, Window: time.Second, MaxKeys: -1},
		{Limit: 1, Window: time.Second, ExpireInterval: -1},
		{Limit: 1, Window: 7, Buckets: 8},
		{Limit: 1, Window: time.Second, Buckets: crdt.MaxKeyedTicks + 1},
	} {
		_, err := ratelimit.NewKeyed(n, "x", cfg)
		assert.ErrorIs(t, err, ratelimit.ErrInvalidConfig, "%+v", cfg)
	}
}

func TestKeyedLimiterPerKey(t *testing.T) {
	k := newKeyed(t, ratelimit.KeyedConfig{Limit: 3, Window: time.Minute})
	ctx := context.Background()
	for i := range 3 {
		assert.True(t, k.Allow(ctx, "alice"), "alice %d", i)
	}
	assert.False(t, k.Allow(ctx, "alice"), "alice is over her limit")
	assert.True(t, k.Allow(ctx, "bob"), "bob has his own limit")

	// Alice's events are in the current tick (600 µs: a sliding log),
	// which leaves the window 60 s after its end; never more than W.
	d := k.Delta("alice")
	assert.Greater(t, d, 59*time.Second)
	assert.LessOrEqual(t, d, 60*time.Second)
	assert.Equal(t, int((d+time.Second-1)/time.Second), k.RetryAfter("alice"))
	assert.Equal(t, time.Duration(0), k.Delta("bob"))
	assert.Equal(t, 0, k.RetryAfter("bob"))

	oldest := k.Oldest("alice")
	assert.WithinDuration(t, time.Now(), oldest, time.Second, "start of the tick of the first event")
	assert.False(t, oldest.After(time.Now()))
	assert.True(t, k.Oldest("nobody").IsZero())

	// Resize raises alice's limit on this node; restoring lowers it again.
	k.Resize("alice", 5)
	assert.True(t, k.Allow(ctx, "alice"))
	k.Resize("alice", 0)
	assert.False(t, k.Allow(ctx, "alice"))

	dec := k.DecideN(time.Now(), "carol", 2)
	assert.True(t, dec.Allowed)
	assert.Equal(t, 1, dec.Remaining)
	dec = k.DecideN(time.Now(), "carol", 2)
	assert.False(t, dec.Allowed)
	assert.Greater(t, dec.RetryAfter, 59*time.Second)
	assert.LessOrEqual(t, dec.RetryAfter, time.Minute)
	assert.Equal(t, 1, dec.Remaining, "the denied request took nothing")
	assert.Equal(t, ratelimit.InfDuration, k.DecideN(time.Now(), "dave", 4).RetryAfter)

	k.Close()
	k.Close()
	assert.False(t, k.Allow(ctx, "erin"))
	assert.Equal(t, ratelimit.InfDuration, k.Delta("erin"))
	assert.Equal(t, math.MaxInt32, k.RetryAfter("erin"))
	assert.True(t, k.Oldest("alice").IsZero())
	assert.False(t, k.DecideN(time.Now(), "erin", 1).Allowed)
}

func TestKeyedLimiterFixedInstants(t *testing.T) {
	k := newKeyed(t, ratelimit.KeyedConfig{Limit: 2, Window: time.Second, Buckets: 10})
	t0 := time.Unix(3000, 0)
	assert.True(t, k.AllowN(t0, "k", 2))
	assert.False(t, k.AllowN(t0.Add(1099*time.Millisecond), "k", 1), "the first bucket is still partly in the window")
	assert.True(t, k.AllowN(t0.Add(1100*time.Millisecond), "k", 1))
	assert.True(t, k.AllowN(t0, "k", 0))
	assert.False(t, k.AllowN(t0, "k", -1))
}

func TestKeyedLimiterEvictsIdleAndExcessKeys(t *testing.T) {
	k := newKeyed(t, ratelimit.KeyedConfig{Limit: 10, Window: 200 * time.Millisecond, Buckets: 4, MaxKeys: 50, ExpireInterval: 10 * time.Millisecond})
	now := time.Now()
	for i := range 200 {
		require.True(t, k.AllowN(now, "key-"+strconv.Itoa(i), 1))
	}
	swarmtest.WaitFor(t, 5*time.Second, func() error {
		if n := k.Len(); n > 50 {
			return fmt.Errorf("%d keys held, MaxKeys 50", n)
		}
		return nil
	})
	// Once their window has passed, idle keys are freed altogether.
	swarmtest.WaitFor(t, 5*time.Second, func() error {
		if n := k.Len(); n != 0 {
			return fmt.Errorf("%d idle keys still held", n)
		}
		return nil
	})
}

func TestKeyedLimiterAcrossNodes(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	cfg := ratelimit.KeyedConfig{Limit: 4, Window: time.Minute}
	a, err := ratelimit.NewKeyed(c.Node(0), "clients", cfg)
	require.NoError(t, err)
	defer a.Close()
	b, err := ratelimit.NewKeyed(c.Node(1), "clients", cfg)
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()
	for range 4 {
		require.True(t, a.Allow(ctx, "alice"))
	}
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if d := b.Delta("alice"); d <= 0 {
			return fmt.Errorf("node 1 has not heard of alice's events (Delta %v)", d)
		}
		return nil
	})
	assert.False(t, b.Allow(ctx, "alice"), "the limit is cluster-wide")
	assert.True(t, b.Allow(ctx, "bob"))
}

// BenchmarkKeyedLimiterAllow decides, on a one-node swarm with the
// instant passed in, for each of 100,000 keys in turn (every call another
// key, none in the CPU cache: the cost of a new key), under a limit of
// 100 per minute (a sliding log) and of 1,000,000 (fine buckets).
func BenchmarkKeyedLimiterAllow(b *testing.B) {
	for _, limit := range []int{100, 1_000_000} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			benchKeyed(b, limit, 100_000)
		})
	}
}

// BenchmarkKeyedLimiterAllowHot decides for 1,000 hot keys among 100,000
// held.
func BenchmarkKeyedLimiterAllowHot(b *testing.B) {
	for _, limit := range []int{100, 1_000_000} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			benchKeyed(b, limit, 1_000)
		})
	}
}

func benchKeyed(b *testing.B, limit, cycle int) {
	k := newKeyed(b, ratelimit.KeyedConfig{Limit: limit, Window: time.Minute, MaxKeys: 200_000, HashSecret: []byte("bench")})
	keys := make([]string, 100_000)
	now := time.Now()
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
		k.AllowN(now, keys[i], 1)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		k.AllowN(now, keys[i%cycle], 1)
		i++
	}
}

// BenchmarkKeyedExpireChunk measures one expiry step (2,048 keys) of a
// node holding 200,000 keys: the longest the expiry holds the value's
// lock, whatever the key count.
func BenchmarkKeyedExpireChunk(b *testing.B) {
	w, err := crdt.NewKeyedWindow(crdt.Replica{Node: "a", Incarnation: 1}, time.Minute, 100_000)
	require.NoError(b, err)
	t0 := time.Unix(5000, 0)
	for i := range 200_000 {
		var h crdt.KeyHash
		copy(h[:], strconv.Itoa(i))
		w.AddAt(t0.Add(time.Duration(i)*time.Microsecond), h, 1)
	}
	w.Delta()
	b.ReportAllocs()
	for b.Loop() {
		w.Expire(t0.Add(30*time.Second), 2048) // nothing to drop: every key is walked
	}
}

// TestKeyedDecisionNumbers: the numbers an HTTP response reports count
// down one per admission, and a denial's RetryAfter is the instant the
// oldest admission leaves the window, never more than W (issue 14 saw
// Remaining jump from 4 to 2 and Retry-After 11 on a 10 s window).
func TestKeyedDecisionNumbers(t *testing.T) {
	k := newKeyed(t, ratelimit.KeyedConfig{Limit: 5, Window: 10 * time.Second})
	t0 := time.Unix(7000, 0)
	for i := range 5 {
		d := k.DecideN(t0.Add(time.Duration(i)*time.Second), "client", 1)
		require.True(t, d.Allowed, "request %d", i)
		assert.Equal(t, 4-i, d.Remaining, "request %d", i)
		assert.Equal(t, 0, d.RetryAfterSeconds())
	}
	d := k.DecideN(t0.Add(5*time.Second), "client", 1)
	require.False(t, d.Allowed)
	assert.Equal(t, 0, d.Remaining)
	// The first admission (t0, in a 100 µs tick) leaves at t0+10s+100µs.
	assert.Equal(t, 5*time.Second+100*time.Microsecond, d.RetryAfter)
	assert.Equal(t, 6, d.RetryAfterSeconds())
	assert.True(t, k.DecideN(t0.Add(10*time.Second+100*time.Microsecond), "client", 1).Allowed, "exactly when RetryAfter said")
}
