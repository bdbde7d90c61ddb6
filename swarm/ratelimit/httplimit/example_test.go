package httplimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/ratelimit/httplimit"
)

func ExampleNew() {
	node, err := swarm.New(swarm.DefaultLocalConfig("web-1"))
	if err != nil {
		panic(err)
	}
	defer node.Close()
	api, err := ratelimit.New(node, "api", ratelimit.Config{Limit: 2, Window: 10 * time.Second, Buckets: 10, Lag: -1})
	if err != nil {
		panic(err)
	}
	defer api.Close()
	mw, err := httplimit.New(httplimit.Cluster(api), httplimit.Options{Policy: "api"})
	if err != nil {
		panic(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	for range 3 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("X-RateLimit-Remaining"), w.Header().Get("Retry-After") != "")
	}
	// Output:
	// 200 "api";q=2;w=10 1 false
	// 200 "api";q=2;w=10 0 false
	// 429 "api";q=2;w=10 0 true
}
