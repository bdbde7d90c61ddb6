// Package httplimit is net/http middleware for shoal's cluster rate
// limits: every request is decided locally by a ratelimit.Limiter (one
// limit for the whole service) or a ratelimit.KeyedLimiter (one limit per
// client, header value or route), and the response carries the limit.
//
// # Usage
//
//	api, _ := ratelimit.New(node, "api", ratelimit.Config{Limit: 1000, Window: time.Minute})
//	mw, err := httplimit.New(httplimit.Cluster(api), httplimit.Options{})
//	http.ListenAndServe(":8080", mw(handler))
//
// Per client, trusting X-Forwarded-For only from the load balancers'
// addresses:
//
//	clients, _ := ratelimit.NewKeyed(node, "clients", ratelimit.KeyedConfig{Limit: 100, Window: time.Minute})
//	mw, err := httplimit.New(httplimit.PerKey(clients, time.Minute), httplimit.Options{
//		Key: httplimit.ClientIP(netip.MustParsePrefix("10.0.0.0/8")),
//	})
//
// # Response fields
//
// Every decided response carries the IETF fields of
// draft-ietf-httpapi-ratelimit-headers (a Structured Field list whose item
// is the policy name):
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=17
//
// q is the limit per window, w the window in seconds, r what remains and
// t the seconds until every event counted now has left the window. It
// also writes the widespread X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset (Unix seconds), and on a denied request Retry-After
// (seconds) and status 429, or whatever Options.Deny writes.
//
// # Cost
//
// The middleware adds the limiter's decision (tens of nanoseconds, no
// network) and the header formatting: see BenchmarkMiddleware and the
// table in the README for the measured cost per request.
package httplimit
