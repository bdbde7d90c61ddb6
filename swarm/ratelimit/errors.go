package ratelimit

import "errors"

// ErrClosed is returned by Wait and the keyed limiter's calls after Close,
// and when the node under the limiter has shut down.
var ErrClosed = errors.New("shoal/ratelimit: limiter is closed")

// ErrInvalidConfig is returned by New and NewKeyed when a Config field is
// invalid; the message names the field.
var ErrInvalidConfig = errors.New("shoal/ratelimit: invalid config")

// ErrExceedsLimit is returned by WaitN when n is larger than the limit, so
// no wait could ever admit it.
var ErrExceedsLimit = errors.New("shoal/ratelimit: n exceeds the limit")
