package swarm

import (
	"testing"
	"time"
)

func TestRediscoverWait(t *testing.T) {
	const s = time.Second
	for _, c := range []struct {
		name       string
		interval   time.Duration
		members    int
		rate       float64
		failures   int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"alone: the interval", 30 * s, 1, 1, 0, 0, 30 * s},
		{"small group: the interval", 30 * s, 20, 1, 0, 0, 30 * s},
		{"fleet of 1,000 at 1/s: 1,000 s each", 30 * s, 1000, 1, 0, 0, 1000 * s},
		{"fleet of 1,000 at 4/s", 30 * s, 1000, 4, 0, 0, 250 * s},
		{"one failure doubles", 30 * s, 1, 1, 1, 0, 60 * s},
		{"three failures: 8x", 30 * s, 1, 1, 3, 0, 240 * s},
		{"many failures: capped at 10 min", 30 * s, 1, 1, 40, 0, 10 * time.Minute},
		{"the cap never shortens a fleet wait", 30 * s, 1000, 1, 5, 0, 1000 * s},
		{"Retry-After longer than the backoff wins", 30 * s, 1, 1, 1, 5 * time.Minute, 5 * time.Minute},
		{"Retry-After shorter than the backoff", 30 * s, 1, 1, 2, 3 * s, 120 * s},
		{"no rate bound", 30 * s, 1000, 0, 0, 0, 30 * s},
	} {
		if got := rediscoverWait(c.interval, c.members, c.rate, c.failures, c.retryAfter); got != c.want {
			t.Errorf("%s: rediscoverWait(%v, %d, %v, %d, %v) = %v, want %v",
				c.name, c.interval, c.members, c.rate, c.failures, c.retryAfter, got, c.want)
		}
	}
}
