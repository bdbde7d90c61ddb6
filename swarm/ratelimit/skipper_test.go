package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// skipperLimiter is skipper's ratelimit.limiter interface
// (github.com/zalando/skipper/ratelimit, ratelimit.go), method for method:
// the interface its cluster limiters implement and its rate-limit registry
// calls. A KeyedLimiter drops in where skipper builds its swim limiter
// (examples/skipper/README.md). This does not compile if a method's
// signature drifts.
type skipperLimiter interface {
	Allow(context.Context, string) bool
	Close()
	Delta(string) time.Duration
	Oldest(string) time.Time
	Resize(string, int)
	RetryAfter(string) int
}

var _ skipperLimiter = (*ratelimit.KeyedLimiter)(nil)

// Used through skipper's interface, the keyed limiter means what skipper's
// filters expect of each method.
func TestKeyedLimiterThroughSkippersInterface(t *testing.T) {
	var l skipperLimiter = newKeyed(t, ratelimit.KeyedConfig{Limit: 3, Window: time.Minute})
	ctx := context.Background()
	require.Zero(t, l.RetryAfter("client"))
	require.LessOrEqual(t, l.Delta("client"), time.Duration(0))
	require.True(t, l.Oldest("client").IsZero())
	for range 3 {
		require.True(t, l.Allow(ctx, "client"))
	}
	require.False(t, l.Allow(ctx, "client"), "the fourth in a minute")
	require.True(t, l.Allow(ctx, "other"), "keys are apart")
	require.Positive(t, l.RetryAfter("client"))
	require.Positive(t, l.Delta("client"))
	require.False(t, l.Oldest("client").IsZero())
	l.Resize("client", 5)
	require.True(t, l.Allow(ctx, "client"), "resized to 5")
	l.Close()
	require.False(t, l.Allow(ctx, "client"), "closed: denies")
}
