package httplimit_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/ratelimit/httplimit"
)

var noop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// BenchmarkMiddleware measures what the middleware adds to a request: the
// key, the decision and the response fields, around a handler that does
// nothing (go test -run '^$' -bench Middleware -benchmem ./swarm/ratelimit/httplimit/).
func BenchmarkMiddleware(b *testing.B) {
	n, err := swarm.New(swarm.DefaultLocalConfig("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	// A limit no benchmark reaches: every request takes the admitted path.
	l, err := ratelimit.New(n, "api", ratelimit.Config{Limit: 1 << 40, Window: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	k, err := ratelimit.NewKeyed(n, "clients", ratelimit.KeyedConfig{Limit: 1 << 40, Window: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()

	run := func(b *testing.B, d httplimit.Decider, o httplimit.Options, clients int) {
		mw, err := httplimit.New(d, o)
		if err != nil {
			b.Fatal(err)
		}
		h := mw(noop)
		reqs := make([]*http.Request, clients)
		for i := range reqs {
			reqs[i] = httptest.NewRequest("GET", "/", nil)
			reqs[i].RemoteAddr = "10.0.0.1:4000"
			reqs[i].Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(i%250)+", 10.0.0.2")
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			w := &discard{h: make(http.Header, 8)}
			i := 0
			for pb.Next() {
				h.ServeHTTP(w, reqs[i%len(reqs)])
				i++
			}
		})
	}
	b.Run("cluster", func(b *testing.B) { run(b, httplimit.Cluster(l), httplimit.Options{}, 1) })
	b.Run("keyed-client-ip", func(b *testing.B) {
		run(b, httplimit.PerKey(k, time.Minute), httplimit.Options{
			Key: httplimit.ClientIP(netip.MustParsePrefix("10.0.0.0/8")),
		}, 250)
	})
	b.Run("none", func(b *testing.B) { // the same request without the middleware
		w := &discard{h: make(http.Header, 8)}
		r := httptest.NewRequest("GET", "/", nil)
		b.ReportAllocs()
		for b.Loop() {
			noop.ServeHTTP(w, r)
		}
	})
}

// discard is a ResponseWriter that keeps nothing, so the benchmark times
// the middleware and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
