package discovery

import (
	"errors"
	"time"
)

// Every error that this package returns wraps one of these sentinels (except
// what a test hands to FakeRegistry.SetError), so a caller can tell with
// errors.Is what went wrong and whether retrying can help (ErrUnreachable,
// ErrDiscovery) or a person has to act first (ErrUnauthorized, ErrForbidden,
// ErrInvalidConfig). An error of Self wraps ErrSelfNotFound and, when listing
// the pods failed, that failure's sentinel too; an error caused by the
// context ending wraps ctx.Err() as well.
var (
	// ErrDiscovery is returned when a source answered but the answer could
	// not be used: an unexpected HTTP status, a malformed response body, or
	// a failed DNS lookup. Retrying later may help.
	ErrDiscovery = errors.New("shoal/discovery: discovery failed")

	// ErrUnreachable is returned when the source could not be reached at
	// all (connection refused, TLS failure, timeout) after the configured
	// retries, or when the context ended first. The message names the URL
	// that was tried.
	ErrUnreachable = errors.New("shoal/discovery: source unreachable")

	// ErrUnauthorized is returned when the Kubernetes API rejects the
	// credentials (HTTP 401). The message names the token source (file or
	// config field) so that it can be checked.
	ErrUnauthorized = errors.New("shoal/discovery: unauthorized")

	// ErrForbidden is returned when the Kubernetes API accepts the
	// credentials but RBAC denies the request (HTTP 403). The message names
	// the rule that is missing and shows a Role that grants it.
	ErrForbidden = errors.New("shoal/discovery: forbidden")

	// ErrSelfNotFound is returned by Self when the local instance cannot be
	// identified among the discovered peers.
	ErrSelfNotFound = errors.New("shoal/discovery: self not found")

	// ErrInvalidConfig is returned by a constructor when a config value is
	// invalid or missing, and by the Kubernetes source when the API server
	// rejects the request as malformed (HTTP 400, usually a bad label
	// selector).
	ErrInvalidConfig = errors.New("shoal/discovery: invalid config")
)

// ErrThrottled is returned (together with ErrDiscovery) when the Kubernetes
// API server answered 429 Too Many Requests: API Priority and Fairness is
// shedding load. Such a call is not retried at once, since retries are what
// keep an overloaded server overloaded; RetryAfter tells how long the
// server asked the caller to wait before the next call.
var ErrThrottled = errors.New("shoal/discovery: throttled by the API server")

// RetryAfter returns how long the source asked to be left alone before the
// next call (a 429's or 503's Retry-After header), when err carries such a
// request; ok is false otherwise. A caller that polls (swarm's
// re-discovery) waits at least this long.
func RetryAfter(err error) (wait time.Duration, ok bool) {
	var ra *retryAfterError
	if errors.As(err, &ra) && ra.wait > 0 {
		return ra.wait, true
	}
	return 0, false
}

// retryAfterError carries a server's Retry-After along an error chain.
type retryAfterError struct {
	err  error
	wait time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }
