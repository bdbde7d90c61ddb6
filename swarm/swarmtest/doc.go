// Package swarmtest helps test programs built on shoal, with real nodes:
// Start runs an N-node cluster in one process on 127.0.0.1 over real
// memberlist UDP and TCP and tears it down with the test; WaitFor and Await
// poll a condition until a deadline (never sleep and hope).
//
// # Usage
//
//	c := swarmtest.Start(t, 3, swarmtest.Options{})
//	a, _ := swarm.NewCounter(c.Node(0), "hits")
//	b, _ := swarm.NewCounter(c.Node(1), "hits")
//	a.Add(1)
//	swarmtest.WaitFor(t, 10*time.Second, func() error {
//		if v, _ := b.Value(); v != 1 {
//			return fmt.Errorf("node 1 reads %d", v)
//		}
//		return nil
//	})
//
// # Fault injection
//
// Network is an in-process simulated network for memberlist. Give each node a
// transport from Network.NewTransport (Options.Transport for Start, or
// swarm.Config.Transport); packets then suffer the FaultConfig's loss (Drop),
// delay (Delay plus uniform Jitter, which also reorders) and duplication,
// while streams stay reliable. Partition splits named nodes into groups that
// cannot reach each other (unlisted nodes reach everyone), Isolate cuts off
// one node, and Heal undoes both; memberlist does not rejoin by itself, so
// give the nodes a swarm.Config.Discovery (re-discovery rejoins them) or call
// Join afterwards. SetFaults changes faults at run time, Stats counts what
// happened to every packet and stream, and Close stops the network's single
// delivery goroutine. Hundreds of nodes fit in one test process.
package swarmtest
