package httplimit_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/ratelimit/httplimit"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// TestMain checks for leaked goroutines. memberlist's Shutdown does not
// wait for an in-flight probe (see swarm's TestMain); that one frame is
// ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "ok\n")
})

// serve starts a real HTTP server on loopback for h.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func middleware(t *testing.T, d httplimit.Decider, o httplimit.Options) func(http.Handler) http.Handler {
	t.Helper()
	mw, err := httplimit.New(d, o)
	require.NoError(t, err)
	return mw
}

// get sends a GET with the given extra header lines and returns the
// response with its body read.
func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp, string(body)
}

// want is what one response must say.
type want struct {
	status    int
	policy    string // the policy name
	limit     int
	windowSec int
	remaining int
}

// checkFields checks the status and every rate-limit field of resp.
func checkFields(t *testing.T, resp *http.Response, w want) {
	t.Helper()
	h := resp.Header
	// Events leave the window bucket by bucket: the reset may lie up to
	// one bucket (at most a 20th of the window here) past a window.
	horizon := w.windowSec + w.windowSec/20 + 1
	assert.Equal(t, w.status, resp.StatusCode, "status")
	assert.Equal(t, []string{fmt.Sprintf(`"%s";q=%d;w=%d`, w.policy, w.limit, w.windowSec)}, h.Values("RateLimit-Policy"), "RateLimit-Policy")
	var r, reset int
	n, err := fmt.Sscanf(h.Get("RateLimit"), `"`+w.policy+`";r=%d;t=%d`, &r, &reset)
	require.NoError(t, err, "RateLimit %q", h.Get("RateLimit"))
	require.Equal(t, 2, n)
	assert.Equal(t, w.remaining, r, "RateLimit r")
	assert.True(t, reset >= 1 && reset <= horizon, "RateLimit t=%d not in 1..%d", reset, horizon)
	assert.Equal(t, strconv.Itoa(w.limit), h.Get("X-RateLimit-Limit"), "X-RateLimit-Limit")
	assert.Equal(t, strconv.Itoa(w.remaining), h.Get("X-RateLimit-Remaining"), "X-RateLimit-Remaining")
	resetUnix, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	require.NoError(t, err, "X-RateLimit-Reset")
	now := time.Now().Unix()
	assert.True(t, resetUnix >= now && resetUnix <= now+int64(horizon), "X-RateLimit-Reset %d, now %d", resetUnix, now)
	if w.status == http.StatusTooManyRequests {
		retry, err := strconv.Atoi(h.Get("Retry-After"))
		require.NoError(t, err, "Retry-After %q", h.Get("Retry-After"))
		assert.True(t, retry >= 1 && retry <= horizon, "Retry-After %d", retry)
	} else {
		assert.Empty(t, h.Values("Retry-After"), "Retry-After on an admitted request")
	}
}

// One cluster limit over three nodes, each behind its own HTTP server:
// what one server admits is refused by the others once it has arrived.
func TestClusterLimitAcrossThreeServers(t *testing.T) {
	const limit, window = 6, time.Minute
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	var lims []*ratelimit.Limiter
	var urls []string
	for _, nd := range c.Nodes() {
		// Lag -1: no extrapolation, so Remaining is exact once news arrived.
		l, err := ratelimit.New(nd, "api", ratelimit.Config{Limit: limit, Window: window, Buckets: 60, Lag: -1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		lims = append(lims, l)
		mw := middleware(t, httplimit.Cluster(l), httplimit.Options{Policy: "api"})
		urls = append(urls, serve(t, mw(ok)).URL)
	}
	admitted := 0
	for i, url := range urls {
		for range limit / len(urls) {
			resp, body := get(t, url)
			admitted++
			checkFields(t, resp, want{http.StatusOK, "api", limit, 60, limit - admitted})
			assert.Equal(t, "ok\n", body)
		}
		waitEstimate(t, lims, float64(admitted), fmt.Sprintf("after server %d", i))
	}
	for _, url := range urls {
		resp, body := get(t, url)
		checkFields(t, resp, want{http.StatusTooManyRequests, "api", limit, 60, 0})
		assert.Equal(t, "rate limit exceeded\n", body)
	}
}

func waitEstimate(t *testing.T, lims []*ratelimit.Limiter, want float64, what string) {
	t.Helper()
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		for i, l := range lims {
			if got := l.Estimate(time.Now()); got != want {
				return fmt.Errorf("%s: node %d estimates %v admitted, want %v", what, i, got, want)
			}
		}
		return nil
	})
}

// One limit per client IP over three servers, the client named by
// X-Forwarded-For from a trusted proxy (loopback here).
func TestPerClientLimitAcrossThreeServers(t *testing.T) {
	const limit, window = 3, time.Minute
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	var keyed []*ratelimit.KeyedLimiter
	var urls []string
	for _, nd := range c.Nodes() {
		k, err := ratelimit.NewKeyed(nd, "clients", ratelimit.KeyedConfig{Limit: limit, Window: window, Lag: -1})
		require.NoError(t, err)
		t.Cleanup(k.Close)
		keyed = append(keyed, k)
		mw := middleware(t, httplimit.PerKey(k, window), httplimit.Options{Key: httplimit.ClientIP(loopback)})
		urls = append(urls, serve(t, mw(ok)).URL)
	}
	const a, b = "203.0.113.1", "203.0.113.2"
	for i := range limit {
		resp, _ := get(t, urls[0], "X-Forwarded-For", a+", 127.0.0.9")
		checkFields(t, resp, want{http.StatusOK, "default", limit, 60, limit - 1 - i})
	}
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		for i, k := range keyed[1:] {
			if k.RetryAfter(a) == 0 {
				return fmt.Errorf("node %d still admits %s", i+1, a)
			}
		}
		return nil
	})
	for _, url := range urls[1:] {
		resp, _ := get(t, url, "X-Forwarded-For", a)
		checkFields(t, resp, want{http.StatusTooManyRequests, "default", limit, 60, 0})
		// Another client has its own limit.
		resp, _ = get(t, url, "X-Forwarded-For", b)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "client %s", b)
	}
	// Behind an untrusted peer the header is ignored: every request counts
	// for the peer (127.0.0.1), whatever client it claims to be.
	mw := middleware(t, httplimit.PerKey(keyed[2], window), httplimit.Options{
		Key: httplimit.ClientIP(netip.MustParsePrefix("10.0.0.0/8")),
	})
	spoofed := serve(t, mw(ok)).URL
	for i := range limit {
		resp, _ := get(t, spoofed, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
	resp, _ := get(t, spoofed, "X-Forwarded-For", "198.51.100.200")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "a spoofed X-Forwarded-For must not buy a fresh limit")
}

// Deny and OnKeyError replace the default answers; Header and Route key
// requests by a header and by the matched pattern.
func TestCustomAnswersHeaderAndRouteKeys(t *testing.T) {
	n, err := swarm.New(swarm.DefaultLocalConfig("solo"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	k, err := ratelimit.NewKeyed(n, "keys", ratelimit.KeyedConfig{Limit: 1, Window: time.Minute, Lag: -1})
	require.NoError(t, err)
	t.Cleanup(k.Close)

	mw := middleware(t, httplimit.PerKey(k, time.Minute), httplimit.Options{
		Key:    httplimit.Header("X-Api-Key"),
		Policy: "per-key",
		Deny: func(w http.ResponseWriter, _ *http.Request, d ratelimit.Decision) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "limit %d", d.Limit)
		},
		OnKeyError: func(w http.ResponseWriter, _ *http.Request, err error) {
			w.WriteHeader(http.StatusUnauthorized)
		},
	})
	url := serve(t, mw(ok)).URL
	resp, _ := get(t, url)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no key")
	assert.Empty(t, resp.Header.Get("RateLimit"), "no decision, no fields")
	resp, _ = get(t, url, "X-Api-Key", "k1")
	checkFields(t, resp, want{http.StatusOK, "per-key", 1, 60, 0})
	resp, body := get(t, url, "X-Api-Key", "k1")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "limit 1", body)
	assert.Equal(t, "1", resp.Header.Get("X-RateLimit-Limit"))
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	resp, _ = get(t, url, "X-Api-Key", "k2")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "another key")

	// Route: one limit per pattern, whatever the path parameters.
	mux := http.NewServeMux()
	route := middleware(t, httplimit.PerKey(k, time.Minute), httplimit.Options{Key: httplimit.Route()})
	mux.Handle("GET /items/{id}", route(ok))
	mux.Handle("GET /users/{id}", route(ok))
	murl := serve(t, mux).URL
	resp, _ = get(t, murl+"/items/1")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = get(t, murl+"/items/2")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "same route, another id")
	resp, _ = get(t, murl+"/users/1")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "another route")

	// Route outside a mux has no pattern: the default key error is 400.
	bare := serve(t, route(ok)).URL
	resp, _ = get(t, bare+"/x")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestNewRejectsBadOptions(t *testing.T) {
	_, err := httplimit.New(nil, httplimit.Options{})
	require.ErrorIs(t, err, httplimit.ErrInvalidOptions)
	n, err := swarm.New(swarm.DefaultLocalConfig("solo"))
	require.NoError(t, err)
	defer n.Close()
	l, err := ratelimit.New(n, "x", ratelimit.Config{Limit: 1, Window: time.Second})
	require.NoError(t, err)
	defer l.Close()
	_, err = httplimit.New(httplimit.Cluster(l), httplimit.Options{Policy: `a"b`})
	require.ErrorIs(t, err, httplimit.ErrInvalidOptions)
	require.ErrorContains(t, err, "Policy")
}
