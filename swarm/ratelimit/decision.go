package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// InfDuration is the RetryAfter of a request that can never be admitted
// (more events than the limit).
const InfDuration = time.Duration(math.MaxInt64)

// Decision is the outcome of one admission request, with what an HTTP
// server puts in its rate-limit headers. It is a value: deciding
// allocates nothing.
type Decision struct {
	// Allowed reports whether the events were admitted (and counted).
	Allowed bool
	// Limit is the number of events the cluster admits per window.
	Limit int
	// Remaining is how many more events this node believes the cluster
	// can admit in the current window, after this decision; never negative.
	Remaining int
	// ResetAt is when every event counted now has left the window.
	ResetAt time.Time
	// RetryAfter is, for a denied request, how long until it would fit if
	// nothing else were admitted meanwhile (InfDuration if it never fits);
	// 0 when allowed.
	RetryAfter time.Duration
}

// RetryAfterSeconds returns RetryAfter rounded up to whole seconds, as the
// Retry-After header wants it: 0 when allowed, at least 1 when denied.
func (d Decision) RetryAfterSeconds() int {
	if d.Allowed || d.RetryAfter <= 0 {
		if d.Allowed {
			return 0
		}
		return 1
	}
	if d.RetryAfter == InfDuration {
		return math.MaxInt32
	}
	s := int((d.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// SetHeaders writes X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset (Unix seconds) into h, and Retry-After when the
// request was denied.
func (d Decision) SetHeaders(h http.Header) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt((d.ResetAt.UnixNano()+int64(time.Second)-1)/int64(time.Second), 10))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(d.RetryAfterSeconds()))
	}
}
