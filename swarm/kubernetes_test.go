package swarm_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/discovery"
	"github.com/shoal-go/shoal/internal/kubetest"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// freePortOn returns a port free for UDP and TCP on every given loopback
// address (pods share one gossip port, as in Kubernetes).
func freePortOn(t *testing.T, ips ...string) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", ips[0]+":0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		ok := true
		for _, ip := range ips {
			for _, nw := range []string{"tcp", "udp"} {
				addr := fmt.Sprintf("%s:%d", ip, port)
				var c interface{ Close() error }
				if nw == "tcp" {
					c, err = net.Listen(nw, addr)
				} else {
					c, err = net.ListenPacket(nw, addr)
				}
				if err != nil {
					ok = false
					continue
				}
				_ = c.Close()
			}
		}
		if ok {
			return port
		}
	}
	t.Fatal("no port free on every address")
	return 0
}

// Three nodes find each other only through a real Kubernetes API server;
// a fourth pod added later joins by periodic re-discovery.
func TestSwarmFindsPeersThroughKubernetesAPI(t *testing.T) {
	srv := kubetest.Start(t)
	const ns = "shoal"
	srv.CreateNamespace(t, ns)
	ips := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"}
	port := freePortOn(t, ips...)

	startPod := func(i int) (*swarm.Node, *swarm.Counter) {
		name := fmt.Sprintf("pod-%d", i)
		srv.CreatePod(t, ns, name, map[string]string{"app": "shoal"})
		srv.SetPodStatus(t, ns, name, "Running", ips[i], true)
		k, err := discovery.NewKubernetes(discovery.KubernetesConfig{
			BaseURL: srv.URL, Token: srv.AdminToken, CAFile: srv.CAFile,
			Namespace: ns, LabelSelector: "app=shoal", Port: uint16(port),
		})
		require.NoError(t, err)
		cfg := swarm.DefaultLocalConfig(name)
		cfg.BindAddr, cfg.BindPort = ips[i], port
		cfg.Discovery, cfg.RediscoverInterval = k, 500*time.Millisecond
		n, err := swarm.New(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		c, err := swarm.NewCounter(n, "requests")
		require.NoError(t, err)
		require.NoError(t, c.Add(int64(i+1)))
		return n, c
	}

	var nodes []*swarm.Node
	var cs []*swarm.Counter
	for i := 0; i < 3; i++ {
		n, c := startPod(i)
		_, err := n.JoinDiscovered(context.Background())
		if i > 0 {
			require.NoError(t, err, "pod %d joins the pods the API lists", i)
		}
		nodes, cs = append(nodes, n), append(cs, c)
	}
	waitMembers(t, nodes, 3)
	waitCounters(t, cs, 1+2+3, 20*time.Second)

	// The fourth pod never calls Join: re-discovery brings it in.
	n, c := startPod(3)
	nodes, cs = append(nodes, n), append(cs, c)
	waitMembers(t, nodes, 4)
	waitCounters(t, cs, 1+2+3+4, 20*time.Second)
}

func waitMembers(t *testing.T, nodes []*swarm.Node, want int) {
	t.Helper()
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for _, n := range nodes {
			if got := n.Stats().Members; got != want {
				return fmt.Errorf("%s sees %d members, want %d", n.Name(), got, want)
			}
		}
		return nil
	})
}
