package httplimit

import (
	"time"

	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// Decider decides whether n events of a request's key happen at now, and
// counts them if so. Implementations must be safe for concurrent use and
// must not block; Cluster and PerKey adapt shoal's limiters.
type Decider interface {
	Decide(now time.Time, key string, n int) ratelimit.Decision
	// Window is the limit's window, reported in RateLimit-Policy's w.
	Window() time.Duration
}

// Cluster adapts a Limiter: one limit for every request, whatever its key.
func Cluster(l *ratelimit.Limiter) Decider { return clusterDecider{l} }

type clusterDecider struct{ l *ratelimit.Limiter }

func (c clusterDecider) Decide(now time.Time, _ string, n int) ratelimit.Decision {
	return c.l.DecideN(now, n)
}

func (c clusterDecider) Window() time.Duration { return c.l.Window() }

// PerKey adapts a KeyedLimiter: one limit per key. window is the Window
// the limiter was configured with (KeyedConfig.Window), reported in
// RateLimit-Policy.
func PerKey(k *ratelimit.KeyedLimiter, window time.Duration) Decider {
	return keyedDecider{k, window}
}

type keyedDecider struct {
	k      *ratelimit.KeyedLimiter
	window time.Duration
}

func (k keyedDecider) Decide(now time.Time, key string, n int) ratelimit.Decision {
	return k.k.DecideN(now, key, n)
}

func (k keyedDecider) Window() time.Duration { return k.window }
