package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
)

func ExampleLimiter() {
	node, err := swarm.New(swarm.DefaultLocalConfig("web-1"))
	if err != nil {
		panic(err)
	}
	defer node.Close()
	api, err := ratelimit.New(node, "api", ratelimit.Config{Limit: 3, Window: time.Second, Buckets: 10})
	if err != nil {
		panic(err)
	}
	defer api.Close()

	t0 := time.Unix(1_700_000_000, 0)
	for i := range 4 {
		fmt.Println("event", i, api.AllowN(t0, 1))
	}
	// The events free their place when their bucket has left the window.
	fmt.Println("after 1.1 s:", api.AllowN(t0.Add(1100*time.Millisecond), 1))
	// Output:
	// event 0 true
	// event 1 true
	// event 2 true
	// event 3 false
	// after 1.1 s: true
}

func ExampleDecision_SetHeaders() {
	node, err := swarm.New(swarm.DefaultLocalConfig("web-1"))
	if err != nil {
		panic(err)
	}
	defer node.Close()
	api, err := ratelimit.New(node, "api", ratelimit.Config{Limit: 2, Window: 10 * time.Second, Buckets: 10})
	if err != nil {
		panic(err)
	}
	defer api.Close()

	t0 := time.Unix(1_700_000_000, 0)
	api.AllowN(t0, 2)
	d := api.DecideN(t0.Add(3*time.Second), 1)
	h := http.Header{}
	d.SetHeaders(h)
	fmt.Println(d.Allowed, d.RetryAfter)
	fmt.Println(h.Get("Retry-After"), h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"))
	// Output:
	// false 8s
	// 8 2 0
}

func ExampleKeyedLimiter() {
	node, err := swarm.New(swarm.DefaultLocalConfig("web-1"))
	if err != nil {
		panic(err)
	}
	defer node.Close()
	clients, err := ratelimit.NewKeyed(node, "per-client", ratelimit.KeyedConfig{Limit: 2, Window: time.Minute})
	if err != nil {
		panic(err)
	}
	defer clients.Close()

	ctx := context.Background()
	for _, key := range []string{"alice", "alice", "alice", "bob"} {
		fmt.Println(key, clients.Allow(ctx, key))
	}
	fmt.Println("alice may retry within a minute:", clients.RetryAfter("alice") <= 63)
	clients.Resize("alice", 3) // this node only
	fmt.Println("alice after Resize:", clients.Allow(ctx, "alice"))
	// Output:
	// alice true
	// alice true
	// alice false
	// bob true
	// alice may retry within a minute: true
	// alice after Resize: true
}
