package swarm_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
)

// Two nodes on loopback share a counter.
func Example() {
	a, _ := swarm.New(swarm.DefaultLocalConfig("a"))
	defer a.Close()
	b, _ := swarm.New(swarm.DefaultLocalConfig("b"))
	defer b.Close()
	if _, err := b.Join(context.Background(), a.Addr()); err != nil {
		fmt.Println(err)
		return
	}
	ca, _ := swarm.NewCounter(a, "requests")
	cb, _ := swarm.NewCounter(b, "requests")
	_ = ca.Add(2)
	_ = cb.Add(3)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		va, _ := ca.Value()
		vb, _ := cb.Value()
		if va == 5 && vb == 5 {
			break
		}
	}
	v, _ := cb.Value()
	fmt.Println(v)
	// Output: 5
}

// Share holds any CRDT of package crdt under a name.
func ExampleShare() {
	n, _ := swarm.New(swarm.DefaultLocalConfig("solo"))
	defer n.Close()
	owners, _ := swarm.Share(n, "owners", func(r crdt.Replica) *crdt.LWWMap[string, string] {
		return crdt.NewLWWMap[string, string](r, crdt.LWWOptions{})
	})
	_ = owners.Update(func(m *crdt.LWWMap[string, string], now time.Time) { m.SetAt(now, "shard-1", "solo") })
	_ = owners.Read(func(m *crdt.LWWMap[string, string]) {
		v, _ := m.Get("shard-1")
		fmt.Println(v)
	})
	// Output: solo
}

// The classic API: values per node, with their Go types.
func ExampleSwarm_ShareValue() {
	s, _ := swarm.Start(swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "node-a"})
	defer s.Leave()
	_ = s.ShareValue("oldest", int64(1700000000000000000))
	for node, v := range s.Values("oldest") {
		fmt.Println(node, v.(int64))
	}
	// Output: node-a 1700000000000000000
}

func ExampleNewMap() {
	n, _ := swarm.New(swarm.DefaultLocalConfig("solo"))
	defer n.Close()
	m, _ := swarm.NewMap[string, int](n, "limits", crdt.LWWOptions{})
	_ = m.Set("api", 100)
	v, ok, _ := m.Get("api")
	fmt.Println(v, ok)
	// Output: 100 true
}

// Fake swarms of one process meet without a registry, through
// DefaultFakeRegistry, as the predecessor's did; a test that wants its
// nodes to meet only each other passes Options.FakeRegistry.
func ExampleDefaultFakeRegistry() {
	a, _ := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "example-a"})
	defer a.Leave()
	b, _ := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "example-b"})
	defer b.Leave()
	_ = a.ShareValue("greeting", "hello from a")
	deadline := time.Now().Add(30 * time.Second)
	for len(b.Values("greeting")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println(b.Values("greeting")["example-a"])
	// Output: hello from a
}
