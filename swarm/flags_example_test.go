package swarm_test

import (
	"flag"
	"fmt"

	"github.com/shoal-go/shoal/swarm"
)

// Flags in dskit's style, the environment behind them, and a validation
// error that names the flag.
func ExampleConfig_RegisterFlags() {
	cfg := swarm.DefaultLocalConfig("web-1")
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "memberlist.")
	_ = fs.Parse([]string{"-memberlist.gossip-interval=100ms", "-memberlist.gossip-nodes=0"})
	env := map[string]string{"SHOAL_MEMBERLIST_CLUSTER_LABEL": "prod"}
	_ = swarm.SetFromEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fmt.Println(cfg.GossipInterval, cfg.Label)
	_, err := swarm.New(cfg)
	fmt.Println(err)
	// Output:
	// 100ms prod
	// shoal/swarm: invalid config: GossipNodes (flag -memberlist.gossip-nodes): 0 must be >= 1
}

func ExampleNode_Health() {
	n, err := swarm.New(swarm.DefaultLocalConfig("web-1"))
	if err != nil {
		panic(err)
	}
	h := n.Health()
	fmt.Println(h.Ready, h.Members, h.Degraded)
	_ = n.Close()
	fmt.Println(n.Health().Ready)
	// Output:
	// true 1 false
	// false
}
