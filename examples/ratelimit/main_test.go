package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// startServers starts n in-process nodes, each behind an httptest server
// with the example's handler; admin holds each node's admin server.
func startServers(t *testing.T, n, limit int, window time.Duration, keyHeader string) (public, admin []*httptest.Server) {
	t.Helper()
	c := swarmtest.Start(t, n, swarmtest.Options{})
	for _, nd := range c.Nodes() {
		s, err := newServer(nd, limit, window, keyHeader)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s.Handler())
		as := httptest.NewServer(s.AdminHandler())
		t.Cleanup(func() {
			hs.Close()
			as.Close()
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		public = append(public, hs)
		admin = append(admin, as)
	}
	return public, admin
}

func urls(servers []*httptest.Server) []string {
	var u []string
	for _, s := range servers {
		u = append(u, s.URL)
	}
	return u
}

// Three servers share one limit; the load command offers twice the limit
// for three windows, round-robin, and the whole cluster admits close to
// the limit in every window.
func TestThreeServersHoldTheClusterLimit(t *testing.T) {
	const limit, window = 40, 2 * time.Second
	servers, _ := startServers(t, 3, limit, window, "")
	var progress bytes.Buffer
	o := loadOptions{targets: urls(servers), rate: 2 * limit / window.Seconds(), duration: 3 * window, window: window, concurrency: 8}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	res, err := runLoad(context.Background(), o, client, &progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load report:\n%s", progress.String())
	if res.Limit != limit {
		t.Errorf("servers announced limit %d, want %d", res.Limit, limit)
	}
	if res.BadHeaders != 0 || res.Errors != 0 {
		t.Errorf("%d responses with bad headers, %d errors", res.BadHeaders, res.Errors)
	}
	if res.Denied == 0 {
		t.Errorf("offered 2× the limit and nothing was denied")
	}
	complete := 0
	for _, w := range res.Windows {
		if !w.Complete {
			continue
		}
		complete++
		// Tolerant bounds for a loaded 2-core machine under -race; the
		// ratelimit package measures the tight ones.
		if float64(w.Admitted) > 1.25*limit || float64(w.Admitted) < 0.8*limit {
			t.Errorf("window at %v admitted %d, want within [0.8, 1.25]×%d", w.Start, w.Admitted, limit)
		}
	}
	if complete < 2 {
		t.Errorf("only %d complete windows", complete)
	}
	if float64(res.WorstSliding) > 1.25*limit {
		t.Errorf("admitted %d in one sliding window, limit %d", res.WorstSliding, limit)
	}
	if !regexp.MustCompile(`window \[0s, 2s\): sent \d+, admitted \d+ = \d\.\d\d× the limit of 40`).MatchString(progress.String()) {
		t.Errorf("no per-window line in the report:\n%s", progress.String())
	}
}

// A denied request carries 429, Retry-After, the IETF RateLimit fields
// and the X-RateLimit headers; the debug page and the metrics are served
// on the admin port, not the public one.
func TestDeniedResponseAndSidePages(t *testing.T) {
	servers, admin := startServers(t, 1, 2, 10*time.Second, "")
	getFrom := func(s *httptest.Server, path string) (*http.Response, string) {
		resp, err := s.Client().Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	get := func(path string) (*http.Response, string) { return getFrom(servers[0], path) }
	for i := 0; i < 2; i++ {
		resp, body := get("/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(1-i) {
			t.Errorf("request %d: remaining %q, want %d", i, got, 1-i)
		}
	}
	resp, body := get("/")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", resp.StatusCode)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	// At most the window plus one bucket (events leave the window a bucket
	// at a time), rounded up to whole seconds.
	if err != nil || ra < 1 || ra > 11 {
		t.Errorf("Retry-After %q, want 1..11 s", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("X-RateLimit-Reset") == "" {
		t.Errorf("headers %v", resp.Header)
	}
	if got := resp.Header.Get("RateLimit-Policy"); got != `"api";q=2;w=10` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	if got := resp.Header.Get("RateLimit"); !strings.HasPrefix(got, `"api";r=0;t=`) {
		t.Errorf("RateLimit %q", got)
	}
	if !strings.Contains(body, "retry after") || resp.Header.Get("X-Served-By") == "" {
		t.Errorf("body %q, headers %v", body, resp.Header)
	}
	for _, path := range []string{"/debug/shoal", "/metrics"} {
		if resp, _ := get(path); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("public %s: %d, want the limited API's 429: admin pages are not public", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := get(path); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	if _, page := getFrom(admin[0], "/debug/shoal"); !strings.Contains(page, "ratelimit/api") {
		t.Errorf("debug page lacks the limit's value:\n%s", page)
	}
	_, metrics := getFrom(admin[0], "/metrics")
	for _, want := range []string{
		`shoal_ratelimit_decisions_total{limit="api",result="allowed"} 2`,
		`shoal_ratelimit_decisions_total{limit="api",result="denied"} 3`, // and the two public admin paths
		`shoal_ratelimit_limit{limit="api"} 2`,
		`shoal_members{state="alive"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// With -key-header each client has its own cluster-wide limit: alice's
// requests on one server use up her limit on the others too, while bob is
// still admitted.
func TestPerClientLimit(t *testing.T) {
	servers, _ := startServers(t, 3, 3, 10*time.Second, "X-Api-Key")
	do := func(s *httptest.Server, key string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/", nil)
		req.Header.Set("X-Api-Key", key)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 3; i++ {
		if code := do(servers[0], "alice"); code != http.StatusOK {
			t.Fatalf("alice's request %d: %d", i, code)
		}
	}
	if code := do(servers[0], "alice"); code != http.StatusTooManyRequests {
		t.Fatalf("alice's 4th request on the same server: %d, want 429", code)
	}
	// The other servers learn of alice's requests by gossip.
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		for i, s := range servers[1:] {
			if code := do(s, "alice"); code != http.StatusTooManyRequests {
				return fmt.Errorf("server %d still admits alice (%d)", i+1, code)
			}
		}
		return nil
	})
	if code := do(servers[2], "bob"); code != http.StatusOK {
		t.Errorf("bob: %d, want 200", code)
	}
}

// serve runs as a command: it prints where it listens, answers, and stops
// cleanly when its context ends. The server's window (10 s) is longer than
// the load (1 s), so no admission leaves it and exactly 5 are admitted.
func TestServeCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "-name", "solo", "-http", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-limit", "5", "-window", "10s"}, &out, &errOut)
	}()
	re := regexp.MustCompile(`http on (http://\S+)`)
	var base string
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		m := re.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("no address yet: %q %q", out.String(), errOut.String())
		}
		base = m[1]
		return nil
	})
	var load bytes.Buffer
	code := run(context.Background(), []string{"load", "-targets", base, "-rate", "20", "-duration", "1s", "-window", "1s"}, &load, &errOut)
	if code != 0 {
		t.Fatalf("load exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(load.String(), "admitted 5 = 1.00× the limit of 5") {
		t.Errorf("load report:\n%s", load.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "solo: stopped") {
		t.Errorf("serve output:\n%s", out.String())
	}
}

func TestCommandLine(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"serve"}, // no -name
		{"serve", "-name", "a", "-bind", "x"},
		{"serve", "-name", "a", "-limit", "0"},
		{"load", "-targets", "ftp://x"},
		{"load", "-rate", "0"},
		{"load", "-header", "novalue"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "ratelimit serve") {
		t.Errorf("help: %d %q", code, out.String())
	}
}

func TestWorstSliding(t *testing.T) {
	s := time.Second
	at := []time.Duration{0, 100 * time.Millisecond, 900 * time.Millisecond, 1000 * time.Millisecond, 1500 * time.Millisecond, 1800 * time.Millisecond}
	// [0.9, 1.9) holds 4.
	if got := worstSliding(at, s); got != 4 {
		t.Errorf("worstSliding = %d, want 4", got)
	}
	if got := worstSliding(nil, s); got != 0 {
		t.Errorf("empty: %d", got)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestServeKubernetesModeTakesIdentityFromTheDownwardAPI(t *testing.T) {
	t.Setenv("POD_NAME", "web-7")
	t.Setenv("POD_IP", "10.1.2.3")
	o, err := parseServe([]string{"-kubernetes", "app=shoal-ratelimit"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.name != "web-7" || o.bind != "10.1.2.3" || o.port != 9990 || o.selector != "app=shoal-ratelimit" {
		t.Fatalf("got name %q bind %q port %d selector %q", o.name, o.bind, o.port, o.selector)
	}
	o, err = parseServe([]string{"-kubernetes", "app=x", "-name", "n", "-bind", "127.0.0.1", "-port", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.name != "n" || o.bind != "127.0.0.1" || o.port != 0 {
		t.Fatalf("flags must win over the environment: %+v", o)
	}
}
