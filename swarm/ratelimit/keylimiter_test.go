package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// rateLimiter is the method set of golang.org/x/time/rate.Limiter that
// KeyLimiter and Limiter share.
type rateLimiter interface {
	Allow() bool
	AllowN(time.Time, int) bool
	Wait(context.Context) error
	WaitN(context.Context, int) error
}

var (
	_ rateLimiter = ratelimit.KeyLimiter{}
	_ rateLimiter = (*ratelimit.Limiter)(nil)
)

func TestKeyLimiterAllowAndWait(t *testing.T) {
	// A 2 s window: the three Allows and the short Wait must all fall in
	// one window even when the machine stalls.
	k := newKeyed(t, ratelimit.KeyedConfig{Limit: 2, Window: 2 * time.Second, Lag: -1})
	a := k.ForKey("a")
	assert.True(t, a.Allow())
	assert.True(t, a.Allow())
	assert.False(t, a.Allow(), "a's limit is used up")
	assert.True(t, k.ForKey("b").Allow(), "b has its own limit")

	short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	err := a.Wait(short)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "a wait longer than the deadline fails at once: %v", err)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, a.Wait(ctx), "room appears once the window slides")
	assert.ErrorIs(t, a.WaitN(ctx, 3), ratelimit.ErrExceedsLimit)

	done := make(chan error, 1)
	go func() {
		for {
			if err := a.Wait(ctx); err != nil {
				done <- err
				return
			}
		}
	}()
	k.Close()
	assert.ErrorIs(t, <-done, ratelimit.ErrClosed)
}
