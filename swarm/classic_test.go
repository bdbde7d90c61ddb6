package swarm_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/discovery"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// Swarmer is what the predecessor's cluster rate limiter asked of a swarm.
type Swarmer interface {
	ShareValue(string, interface{}) error
	Values(string) map[string]interface{}
}

// clusterLimiter is modelled on the predecessor's gossip cluster rate
// limiter: each node keeps a sliding window of its own request times and
// shares the oldest one as int64 nanoseconds; the cluster rate is the sum
// over Values of each node's len(window)/age.
type clusterLimiter struct {
	sw     Swarmer
	key    string
	max    int
	window time.Duration
	times  []int64
}

func (l *clusterLimiter) record(now time.Time) error {
	l.times = append(l.times, now.UnixNano())
	if len(l.times) > l.max {
		l.times = l.times[1:]
	}
	return l.sw.ShareValue(l.key, l.times[0])
}

// allow reports whether the cluster is under max requests per window.
func (l *clusterLimiter) allow(now time.Time) bool {
	var rate float64
	for _, v := range l.sw.Values(l.key) {
		oldest := v.(int64) // the consumer type-asserts, as the predecessor's did
		age := now.Sub(time.Unix(0, oldest))
		if age <= 0 {
			continue
		}
		rate += float64(l.max) / age.Seconds()
	}
	return rate*l.window.Seconds() < float64(l.max)
}

func fastTune(c *swarm.Config) {
	c.GossipInterval = 50 * time.Millisecond
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 2
	c.PushPullInterval = time.Second
	c.TCPTimeout = 2 * time.Second
	c.LeaveTimeout = 2 * time.Second
	c.RediscoverInterval = 300 * time.Millisecond
	c.DiscoveryFleetRate = 1000
}

// startFake starts n fake swarms that find each other through one registry.
func startFake(t *testing.T, n int, grace time.Duration) ([]*swarm.Swarm, *discovery.FakeRegistry) {
	t.Helper()
	reg := discovery.NewFakeRegistry()
	var out []*swarm.Swarm
	for i := 0; i < n; i++ {
		s := startOneFake(t, reg, fmt.Sprintf("node-%d", i), grace)
		out = append(out, s)
	}
	return out, reg
}

func startOneFake(t *testing.T, reg *discovery.FakeRegistry, name string, grace time.Duration) *swarm.Swarm {
	t.Helper()
	s, err := swarm.NewSwarm(&swarm.Options{
		FakeSwarm: true, FakeSwarmLocalNode: name, FakeRegistry: reg,
		DepartedGrace: grace, Tune: fastTune,
	})
	require.NoError(t, err)
	t.Cleanup(s.Leave)
	require.NoError(t, swarm.RegisterFake(reg, s))
	return s
}

func waitValues(t *testing.T, sws []*swarm.Swarm, key string, want map[string]interface{}) {
	t.Helper()
	swarmtest.WaitFor(t, 15*time.Second, func() error {
		for _, s := range sws {
			got := s.Values(key)
			if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
				return fmt.Errorf("%s: Values(%q) = %v, want %v", s.Local().Name, key, got, want)
			}
		}
		return nil
	})
}

func sorted(m map[string]interface{}) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%v(%T)", k, v, v))
	}
	sort.Strings(out)
	return out
}

func TestClassicConsumerReachesSameDecisionsOnEveryNode(t *testing.T) {
	sws, _ := startFake(t, 3, 0)
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		for _, s := range sws {
			if m := s.Node().Stats().Members; m != 3 {
				return fmt.Errorf("%s sees %d members", s.Local().Name, m)
			}
		}
		return nil
	})
	t0 := time.Unix(1_700_000_000, 0)
	limiters := make([]*clusterLimiter, len(sws))
	for i, s := range sws {
		limiters[i] = &clusterLimiter{sw: s, key: "ratelimit.api", max: 10, window: time.Second}
	}
	// Every node records a burst at its own pace.
	want := map[string]interface{}{}
	for i, l := range limiters {
		for k := 0; k < 10+i*5; k++ {
			require.NoError(t, l.record(t0.Add(time.Duration(i*100+k)*time.Millisecond)))
		}
		want[sws[i].Local().Name] = l.times[0]
	}
	waitValues(t, sws, "ratelimit.api", want)
	for _, at := range []time.Duration{500 * time.Millisecond, 2 * time.Second, 10 * time.Second, time.Minute} {
		now := t0.Add(at)
		first := limiters[0].allow(now)
		for i, l := range limiters {
			require.Equal(t, first, l.allow(now), "node %d disagrees at t0+%v", i, at)
		}
	}
	require.False(t, limiters[0].allow(t0.Add(2*time.Second)), "three nodes at ~5/s each exceed 10 per second")
	require.True(t, limiters[0].allow(t0.Add(time.Minute)), "a minute later the cluster is under the limit")
}

func TestClassicValuesKeepGoTypesAndOwnValue(t *testing.T) {
	sws, _ := startFake(t, 2, 0)
	vals := []interface{}{int64(-5), uint64(1 << 63), 3.5, "s", true, []byte{1, 2}, time.Unix(5, 6).UTC(), 42}
	for i, v := range vals {
		key := fmt.Sprint("k", i)
		require.NoError(t, sws[0].ShareValue(key, v))
		require.Equal(t, map[string]interface{}{"node-0": v}, sws[0].Values(key), "own value at once")
		waitValues(t, sws, key, map[string]interface{}{"node-0": v})
	}
	require.Error(t, sws[0].ShareValue("bad", struct{ X chan int }{}), "unregistered type")
}

func TestClassicDepartedNodeDisappearsAndRestartReplaces(t *testing.T) {
	sws, reg := startFake(t, 3, 500*time.Millisecond)
	for i, s := range sws {
		require.NoError(t, s.ShareValue("k", int64(i)))
	}
	waitValues(t, sws, "k", map[string]interface{}{"node-0": int64(0), "node-1": int64(1), "node-2": int64(2)})

	sws[2].Leave() // announced leave
	reg.Remove("node-2")
	start := time.Now()
	waitValues(t, sws[:2], "k", map[string]interface{}{"node-0": int64(0), "node-1": int64(1)})
	t.Logf("left node gone from Values after %v", time.Since(start))

	// Kill (no leave) node-1: it must vanish after failure detection + grace.
	require.NoError(t, sws[1].Node().Close())
	reg.Remove("node-1")
	waitValues(t, sws[:1], "k", map[string]interface{}{"node-0": int64(0)})

	// Restart node-1 under the same name: its new value replaces the old.
	again := startOneFake(t, reg, "node-1", 500*time.Millisecond)
	require.NoError(t, again.ShareValue("k", int64(100)))
	waitValues(t, []*swarm.Swarm{sws[0], again}, "k", map[string]interface{}{"node-0": int64(0), "node-1": int64(100)})
}

func TestClassicLateJoinerSeesAllValues(t *testing.T) {
	sws, reg := startFake(t, 3, 0)
	for i, s := range sws {
		require.NoError(t, s.ShareValue("k", fmt.Sprint("v", i)))
	}
	want := map[string]interface{}{"node-0": "v0", "node-1": "v1", "node-2": "v2"}
	waitValues(t, sws, "k", want)
	late := startOneFake(t, reg, "late", 0)
	waitValues(t, []*swarm.Swarm{late}, "k", want)
}

func TestClassicBurstEndsWithNewestValue(t *testing.T) {
	sws, _ := startFake(t, 3, 0)
	for k := 0; k < 2000; k++ {
		require.NoError(t, sws[0].ShareValue("burst", int64(k)))
	}
	waitValues(t, sws, "burst", map[string]interface{}{"node-0": int64(1999)})
}

func TestClassicBroadcastReachesListeners(t *testing.T) {
	sws, _ := startFake(t, 2, 0)
	ch, cancel := sws[1].Messages(8)
	defer cancel()
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if err := sws[0].Broadcast("hello"); err != nil {
			return err
		}
		select {
		case m := <-ch:
			if m.Source != "node-0" || m.Value != "hello" {
				return fmt.Errorf("got %+v", m)
			}
			return nil
		case <-time.After(200 * time.Millisecond):
			return fmt.Errorf("no message yet")
		}
	})
}

func TestClassicOptionsErrors(t *testing.T) {
	_, err := swarm.NewSwarm(&swarm.Options{})
	require.ErrorIs(t, err, swarm.ErrUnknownSwarm)
	_, err = swarm.NewSwarm(nil)
	require.ErrorIs(t, err, swarm.ErrUnknownSwarm)
	_, err = swarm.Start(swarm.Options{FakeSwarm: true, MaxMessageBuffer: -1})
	require.ErrorIs(t, err, swarm.ErrInvalidConfig)
	require.Contains(t, err.Error(), "MaxMessageBuffer")

	a, err := swarm.Start(swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "a", Tune: fastTune})
	require.NoError(t, err)
	defer a.Leave()
	_, err = swarm.Start(swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "b", SwarmPort: a.Local().Port, Tune: fastTune})
	require.Error(t, err, "port in use")

	a.Leave()
	a.Leave() // idempotent
	require.ErrorIs(t, a.ShareValue("k", 1), swarm.ErrClosed)
	require.Empty(t, a.Values("k"))
}

func TestStaticNodeInfo(t *testing.T) {
	ni, err := swarm.NewStaticNodeInfo("a", "10.0.0.1:9990")
	require.NoError(t, err)
	require.Equal(t, "NodeInfo{name: a, 10.0.0.1:9990}", ni.String())
	_, err = swarm.NewStaticNodeInfo("a", "nope")
	require.Error(t, err)
	_, err = swarm.NewStaticNodeInfo("a", "host:1")
	require.Error(t, err)
	st := swarm.NewStaticSwarm(ni, []*swarm.NodeInfo{ni})
	nodes, err := st.GetNodeInfo()
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	require.Same(t, ni, st.Self())
}

func BenchmarkClassicShareValue(b *testing.B) {
	s, err := swarm.Start(swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "bench"})
	require.NoError(b, err)
	defer s.Leave()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.ShareValue("k", int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassicValues(b *testing.B) {
	sws := make([]*swarm.Swarm, 0, 3)
	reg := discovery.NewFakeRegistry()
	for i := 0; i < 3; i++ {
		s, err := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: fmt.Sprint("b", i), FakeRegistry: reg, Tune: fastTune})
		require.NoError(b, err)
		defer s.Leave()
		require.NoError(b, swarm.RegisterFake(reg, s))
		require.NoError(b, s.ShareValue("k", int64(i)))
		sws = append(sws, s)
	}
	require.NoError(b, swarmtest.Await(10*time.Second, func() error {
		if n := len(sws[0].Values("k")); n != 3 {
			return fmt.Errorf("%d values", n)
		}
		return nil
	}))
	b.ReportAllocs()
	for b.Loop() {
		if len(sws[0].Values("k")) != 3 {
			b.Fatal("lost a value")
		}
	}
}

func TestClientKubernetesOutOfCluster(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}))
	defer srv.Close()
	c, err := swarm.NewClientKubernetes(false, srv.URL)
	require.NoError(t, err)
	defer c.Stop()
	rsp, err := c.Get("/api/v1/namespaces/kube-system/pods")
	require.NoError(t, err)
	defer rsp.Body.Close()
	body, err := io.ReadAll(rsp.Body)
	require.NoError(t, err)
	require.JSONEq(t, `{"path":"/api/v1/namespaces/kube-system/pods"}`, string(body))

	_, err = swarm.NewClientKubernetes(true, "")
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		require.Error(t, err, "in cluster without the service environment")
	}
}

// 10,000 distinct keys shared at 1,000 per second all reach every peer
// (the predecessor delivered 1.5–11 %).
func TestClassicTenThousandKeysReachEveryPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of sharing: skipped in -short")
	}
	sws, _ := startFake(t, 3, 0)
	const keys = 10000
	tick := time.NewTicker(time.Millisecond) // 1,000 keys per second
	defer tick.Stop()
	for k := 0; k < keys; k++ {
		<-tick.C
		require.NoError(t, sws[0].ShareValue(fmt.Sprint("key-", k), int64(k)))
	}
	swarmtest.WaitFor(t, 60*time.Second, func() error {
		for _, s := range sws[1:] {
			for k := 0; k < keys; k++ {
				v, ok := s.Values(fmt.Sprint("key-", k))["node-0"]
				if !ok || v != int64(k) {
					return fmt.Errorf("%s: key-%d = %v", s.Local().Name, k, v)
				}
			}
		}
		return nil
	})
	for _, s := range sws[1:] {
		st := s.Node().Stats()
		require.Zero(t, st.Drops["pending_full"], "%s dropped values: keys must be merged on arrival, not parked", s.Local().Name)
		require.Zero(t, st.PendingValues, s.Local().Name)
	}
}
