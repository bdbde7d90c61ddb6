package swarm_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
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
		cfg.Discovery, cfg.RediscoverInterval, cfg.DiscoveryFleetRate = k, 500*time.Millisecond, 1000
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

// countingDiscoverer counts the calls a fleet makes to its source.
type countingDiscoverer struct {
	discovery.Discoverer
	calls *atomic.Int64
}

func (c countingDiscoverer) Peers(ctx context.Context) ([]discovery.Peer, error) {
	c.calls.Add(1)
	return c.Discoverer.Peers(ctx)
}

// The whole fleet's steady-state load on the API server is bounded by
// DiscoveryFleetRate, whatever the number of members: 10 nodes that would
// poll every 2 s (5 lists per second between them, 100 in the window) make
// about 1 per second at DiscoveryFleetRate 1. The API server holds 1,000 pods of
// realistic size, 10 of them the serving nodes (the others Running but not
// Ready, at addresses never contacted), so each call costs what a
// 1,000-pod fleet's call costs. Only an upper bound is checked: a slow
// machine makes fewer calls, never more.
func TestFleetDiscoveryLoadIsBounded(t *testing.T) {
	srv := kubetest.Start(t)
	const ns, nodes = "fleet", 10
	srv.CreateNamespace(t, ns)
	ips := make([]string, nodes)
	pods := make([]kubetest.PodState, 1000)
	for i := range pods {
		pods[i] = kubetest.PodState{Name: fmt.Sprintf("pod-%04d", i), Phase: "Running", IP: fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)}
		if i < nodes {
			ips[i] = fmt.Sprintf("127.0.0.%d", 41+i)
			pods[i].IP, pods[i].Ready = ips[i], true
		}
	}
	srv.CreateRealisticPods(t, ns, map[string]string{"app": "shoal"}, pods)
	port := freePortOn(t, ips...)

	var calls atomic.Int64
	var members []*swarm.Node
	for i := range nodes {
		k, err := discovery.NewKubernetes(discovery.KubernetesConfig{
			BaseURL: srv.URL, Token: srv.AdminToken, CAFile: srv.CAFile,
			Namespace: ns, LabelSelector: "app=shoal", Port: uint16(port),
		})
		require.NoError(t, err)
		t.Cleanup(k.CloseIdleConnections)
		cfg := swarm.DefaultLocalConfig(pods[i].Name)
		cfg.BindAddr, cfg.BindPort = ips[i], port
		cfg.Discovery = countingDiscoverer{k, &calls}
		cfg.RediscoverInterval, cfg.DiscoveryFleetRate = 2*time.Second, 1
		// A re-discovery round is bounded by TCPTimeout (2 s in the local
		// preset); ten nodes listing 10 MB of pods at once at start can
		// take longer than that, and each timeout backs the next round off.
		cfg.TCPTimeout = 15 * time.Second
		n, err := swarm.New(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		members = append(members, n)
	}
	waitMembers(t, members, nodes) // re-discovery alone forms the cluster

	// Steady state: every node sees the whole fleet, so each waits
	// max(2 s, 10/1 s) = 10 s between rounds.
	time.Sleep(3 * time.Second) // let rounds scheduled before the cluster formed pass
	before := calls.Load()
	start := time.Now()
	const window = 20 * time.Second
	time.Sleep(window)
	got := calls.Load() - before
	rate := float64(got) / time.Since(start).Seconds()
	t.Logf("%d lists of 1,000 pods in %v: %.2f per second for the fleet (bound 1/s; %d/s without it)",
		got, time.Since(start).Round(time.Millisecond), rate, nodes/2)
	// About 20 calls are expected. The bound leaves room for jitter, rounds
	// straddling the window's edges, and a member or two that a loaded
	// machine makes flap (a node that believes itself alone polls every
	// RediscoverInterval, by design); polling at the interval makes ~100.
	require.LessOrEqual(t, got, int64(60), "the fleet polls faster than DiscoveryFleetRate")
}
