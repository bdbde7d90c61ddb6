package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/shoal-go/shoal/discovery"
)

func ExampleNewStatic() {
	a, _ := discovery.ParsePeer("node-a=10.0.0.1:9990")
	b, _ := discovery.ParsePeer("[fd00::2]:9990")
	static, err := discovery.NewStatic(a, b)
	if err != nil {
		fmt.Println(err)
		return
	}
	peers, _ := static.Peers(context.Background())
	for _, p := range peers {
		fmt.Println(p)
	}
	// Output:
	// [fd00::2]:9990
	// node-a@10.0.0.1:9990
}

func ExampleParsePeer() {
	for _, s := range []string{"web-0=10.0.0.7:9990", "[fd00::7]:7946", "10.0.0.7"} {
		p, err := discovery.ParsePeer(s)
		fmt.Printf("%q %v\n", p.Name, err)
	}
	// Output:
	// "web-0" <nil>
	// "[fd00::7]:7946" <nil>
	// "" shoal/discovery: invalid config: peer "10.0.0.7": not an ip:port
}

func ExampleNewStatic_invalid() {
	_, err := discovery.NewStatic(discovery.Peer{Name: "a", Addr: netip.MustParseAddrPort("10.0.0.1:0")})
	fmt.Println(errors.Is(err, discovery.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// true
	// static peer 0: shoal/discovery: invalid config: peer "a" has port 0
}

func ExampleNewFakeRegistry() {
	reg := discovery.NewFakeRegistry()
	_ = reg.Add(
		discovery.Peer{Name: "b", Addr: netip.MustParseAddrPort("127.0.0.1:7002")},
		discovery.Peer{Name: "a", Addr: netip.MustParseAddrPort("127.0.0.1:7001")},
	)
	var d discovery.Discoverer = reg // what the code under test takes
	peers, _ := d.Peers(context.Background())
	fmt.Println(peers)

	reg.Remove("a") // an instance leaves while the test runs
	peers, _ = d.Peers(context.Background())
	fmt.Println(peers)
	// Output:
	// [a@127.0.0.1:7001 b@127.0.0.1:7002]
	// [b@127.0.0.1:7002]
}

func ExampleNewKubernetes() {
	k, err := discovery.NewKubernetes(discovery.KubernetesConfig{
		InCluster:     true,
		LabelSelector: "app=shoal-ratelimit",
		Port:          9990,
	})
	if err != nil {
		fmt.Println(err) // not in a pod, or a bad config value
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peers, err := k.Peers(ctx)
	switch {
	case errors.Is(err, discovery.ErrForbidden):
		fmt.Println("grant the service account get/list on pods:", err)
	case err != nil:
		fmt.Println("retry later:", err)
	default:
		fmt.Println(peers)
	}
}

func ExampleNewDNS() {
	d, err := discovery.NewDNS(discovery.DNSConfig{
		Name: "shoal-ratelimit.default.svc.cluster.local", // a headless Service
		Port: 9990,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	peers, err := d.Peers(context.Background())
	fmt.Println(len(peers), err)
}
