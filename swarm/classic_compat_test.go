package swarm_test

// The predecessor's observable behaviours, each stated and checked on real
// nodes. The predecessor is skipper's swarm package
// (github.com/zalando/skipper/swarm); these tests are written from its
// documentation and behaviour, not copied from it.

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/discovery"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// freePort returns a port free for TCP and UDP on every interface now.
func freePort(t *testing.T) uint16 {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return uint16(port)
		}
	}
	t.Fatal("no free port")
	return 0
}

func classicOpts() swarm.Options {
	return swarm.Options{MaxMessageBuffer: swarm.DefaultMaxMessageBuffer, LeaveTimeout: swarm.DefaultLeaveTimeout, Tune: fastTune}
}

func waitSees(t *testing.T, sws []*swarm.Swarm, names ...string) {
	t.Helper()
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		for _, s := range sws {
			for _, name := range names {
				if m, ok := s.Node().Member(name); !ok || m.State != swarm.MemberAlive {
					return fmt.Errorf("%s does not see %s alive", s.Local().Name, name)
				}
			}
		}
		return nil
	})
}

// Behaviour: Join(Options{}, &NodeInfo{Name, Port}, all, ...) with no
// Addr anywhere forms one cluster. Join writes its defaults (Addr) back
// into the caller's NodeInfo, so the later joiners, given the same
// NodeInfo values, reach the earlier ones.
func TestCompatJoinWithoutAddressesFormsACluster(t *testing.T) {
	all := []*swarm.NodeInfo{
		{Name: "first", Port: freePort(t)},
		{Name: "second", Port: freePort(t)},
		{Name: "third", Port: freePort(t)},
	}
	var sws []*swarm.Swarm
	for _, self := range all {
		s, err := swarm.Join(classicOpts(), self, all, func() {})
		require.NoError(t, err, self.Name)
		t.Cleanup(s.Leave)
		require.NotNil(t, self.Addr, "%s: Join writes the bind address back", self.Name)
		require.True(t, self.Addr.IsUnspecified(), "%s: Addr %v", self.Name, self.Addr)
		sws = append(sws, s)
	}
	waitSees(t, sws, "first", "second", "third")
	require.NoError(t, sws[0].ShareValue("foo", 1))
	require.NoError(t, sws[1].ShareValue("foo", 2))
	require.NoError(t, sws[1].ShareValue("bar", 3))
	require.NoError(t, sws[2].ShareValue("bar", 4))
	waitValues(t, sws, "foo", map[string]interface{}{"first": 1, "second": 2})
	waitValues(t, sws, "bar", map[string]interface{}{"second": 3, "third": 4})
	// The first joiner found nobody else up: it said so, the others did not.
	for i, want := range []uint64{1, 0, 0} {
		require.Equal(t, want, sws[i].Node().Stats().Drops["classic_join_unreached"], all[i].Name)
	}
}

// Behaviour: a NodeInfo's zero fields are filled with the defaults Join
// binds, in the caller's value: Name the host name, Addr 0.0.0.0, Port
// memberlist's 7946.
func TestCompatJoinWritesDefaultsBack(t *testing.T) {
	self := &swarm.NodeInfo{Port: freePort(t)}
	s, err := swarm.Join(classicOpts(), self, nil, nil)
	require.NoError(t, err)
	host, _ := os.Hostname()
	require.Equal(t, host, self.Name)
	require.True(t, self.Addr.IsUnspecified())
	require.Equal(t, self.Name, s.Local().Name)
	require.Equal(t, self.Port, s.Local().Port)
	s.Leave()

	// Port 0 binds memberlist's default port, as the predecessor did. The
	// port may be taken on a shared machine: then Join fails naming it.
	zero := &swarm.NodeInfo{Name: "zero-port", Addr: net.IPv4(127, 0, 0, 1)}
	s, err = swarm.Join(classicOpts(), zero, nil, nil)
	require.Equal(t, uint16(swarm.MemberlistDefaultPort), zero.Port)
	if err != nil {
		require.Contains(t, err.Error(), strconv.Itoa(swarm.MemberlistDefaultPort))
		return
	}
	defer s.Leave()
	require.Equal(t, uint16(swarm.MemberlistDefaultPort), s.Local().Port)
}

// Behaviour (shoal's reading of a nil Addr): a peer whose Addr is nil is
// dialled where a nil Addr binds, on this host. Without that, "b" reaches
// nobody and, not being in its own list, fails.
func TestCompatPeerWithoutAddrIsDialledOnThisHost(t *testing.T) {
	a, err := swarm.Join(classicOpts(), &swarm.NodeInfo{Name: "a", Addr: net.IPv4(127, 0, 0, 1), Port: freePort(t)}, nil, nil)
	require.NoError(t, err)
	defer a.Leave()
	peer := &swarm.NodeInfo{Name: "a", Port: a.Local().Port} // no Addr
	b, err := swarm.Join(classicOpts(), &swarm.NodeInfo{Name: "b", Addr: net.IPv4(127, 0, 0, 1), Port: freePort(t)}, []*swarm.NodeInfo{peer}, nil)
	require.NoError(t, err)
	defer b.Leave()
	waitSees(t, []*swarm.Swarm{a, b}, "a", "b")
}

// Behaviour: when no given peer answers, Join fails if the node is not in
// its own list (the predecessor's memberlist join found nobody); with
// itself listed it ran alone, and shoal then logs a warning and counts it.
func TestCompatJoinNobodyAnswers(t *testing.T) {
	dead := &swarm.NodeInfo{Name: "dead", Addr: net.IPv4(127, 0, 0, 1), Port: freePort(t)}

	_, err := swarm.Join(classicOpts(), &swarm.NodeInfo{Name: "x", Addr: net.IPv4(127, 0, 0, 1), Port: freePort(t)}, []*swarm.NodeInfo{dead}, nil)
	require.ErrorIs(t, err, swarm.ErrJoin)

	var logs syncBuffer
	o := classicOpts()
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	self := &swarm.NodeInfo{Name: "y", Addr: net.IPv4(127, 0, 0, 1), Port: freePort(t)}
	s, err := swarm.Join(o, self, []*swarm.NodeInfo{self, dead}, nil)
	require.NoError(t, err)
	defer s.Leave()
	require.Equal(t, uint64(1), s.Node().Stats().Drops["classic_join_unreached"])
	require.Contains(t, logs.String(), "no peer answered")
}

// Behaviour: fake swarms of one process meet without any registry, as the
// predecessor's did through its package-level list.
func TestCompatFakeSwarmsMeetWithoutRegistry(t *testing.T) {
	var sws []*swarm.Swarm
	names := []string{"compat-fake-0", "compat-fake-1", "compat-fake-2"}
	for _, name := range names {
		s, err := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: name, Tune: fastTune})
		require.NoError(t, err)
		t.Cleanup(s.Leave)
		sws = append(sws, s)
	}
	waitSees(t, sws, names...)
	for i, s := range sws {
		require.NoError(t, s.ShareValue("compat-fake", int64(i)))
	}
	waitValues(t, sws, "compat-fake", map[string]interface{}{names[0]: int64(0), names[1]: int64(1), names[2]: int64(2)})
	// A node that leaves removes itself from the registry.
	sws[2].Leave()
	peers, err := swarm.DefaultFakeRegistry().Peers(t.Context())
	require.NoError(t, err)
	for _, p := range peers {
		require.NotEqual(t, names[2], p.Name)
	}
}

// Behaviour: two swarms share one cluster limit: each node's decision
// counts the other's requests (the predecessor's two-swarm limiter test).
func TestCompatTwoSwarmsShareOneLimit(t *testing.T) {
	var sws []*swarm.Swarm
	for _, name := range []string{"limit-a", "limit-b"} {
		s, err := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: name, Tune: fastTune})
		require.NoError(t, err)
		t.Cleanup(s.Leave)
		sws = append(sws, s)
	}
	waitSees(t, sws, "limit-a", "limit-b")
	t0 := time.Unix(1_700_000_000, 0)
	a := &clusterLimiter{sw: sws[0], key: "ratelimit.shared", max: 10, window: time.Second}
	b := &clusterLimiter{sw: sws[1], key: "ratelimit.shared", max: 10, window: time.Second}
	for k := range 10 { // 10 requests in 1 s on a: exactly at the limit alone
		require.NoError(t, a.record(t0.Add(time.Duration(k)*100*time.Millisecond)))
	}
	at := t0.Add(2 * time.Second) // a alone: 10 per 2 s, under 10 per 1 s
	require.True(t, a.allow(at), "a alone is under the limit")
	for k := range 10 {
		require.NoError(t, b.record(t0.Add(time.Duration(k)*100*time.Millisecond)))
	}
	waitValues(t, sws, "ratelimit.shared", map[string]interface{}{"limit-a": a.times[0], "limit-b": b.times[0]})
	require.False(t, a.allow(at), "a counts b's requests")
	require.False(t, b.allow(at), "b counts a's requests")
}

// Behaviour: Leave may be called twice (the predecessor's second Leave
// closed a closed channel and panicked; shoal's is idempotent) and runs
// the cleanup function once; afterwards the Swarm is inert.
func TestCompatLeaveTwice(t *testing.T) {
	var cleanups atomic.Int32
	s, err := swarm.Join(classicOpts(), &swarm.NodeInfo{Name: "twice", Addr: net.IPv4(127, 0, 0, 1), Port: freePort(t)}, nil,
		func() { cleanups.Add(1) })
	require.NoError(t, err)
	s.Leave()
	s.Leave()
	require.Equal(t, int32(1), cleanups.Load())
	require.ErrorIs(t, s.ShareValue("k", 1), swarm.ErrClosed)
	require.ErrorIs(t, s.Broadcast("m"), swarm.ErrClosed)
	require.Empty(t, s.Values("k"))
}

// Behaviour: a departed node's value stays in Values for DepartedGrace
// after memberlist declares it gone (the predecessor kept it forever),
// then disappears, and a key nobody live shares any more is forgotten.
func TestCompatValuesFromDepartedNode(t *testing.T) {
	gone := func(s *swarm.Swarm, name string) func() error {
		return func() error {
			if m, _ := s.Node().Member(name); m.State == swarm.MemberAlive {
				return fmt.Errorf("%s still alive", name)
			}
			return nil
		}
	}
	// A long grace: the departed node's value is still read.
	long, _ := startFake(t, 2, time.Hour)
	require.NoError(t, long[1].ShareValue("k", "v1"))
	waitValues(t, long, "k", map[string]interface{}{"node-1": "v1"})
	long[1].Leave()
	swarmtest.WaitFor(t, 20*time.Second, gone(long[0], "node-1"))
	require.Equal(t, map[string]interface{}{"node-1": "v1"}, long[0].Values("k"), "within DepartedGrace")

	// A short grace: it disappears, and a key only it shared is forgotten.
	sws, _ := startFake(t, 3, time.Second)
	require.NoError(t, sws[0].ShareValue("everyone", "v0"))
	require.NoError(t, sws[2].ShareValue("everyone", "v2"))
	require.NoError(t, sws[2].ShareValue("only-2", "v2"))
	waitValues(t, sws, "everyone", map[string]interface{}{"node-0": "v0", "node-2": "v2"})
	waitValues(t, sws, "only-2", map[string]interface{}{"node-2": "v2"})
	require.Equal(t, 2, sws[1].Len())

	sws[2].Leave()
	swarmtest.WaitFor(t, 20*time.Second, gone(sws[1], "node-2"))
	waitValues(t, sws[:2], "everyone", map[string]interface{}{"node-0": "v0"})
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		if n := sws[1].Len(); n != 1 {
			return fmt.Errorf("node-1 holds %d keys, want 1 (only-2 has no live contributor)", n)
		}
		return nil
	})
	require.Empty(t, sws[1].Values("only-2"))
}

// Behaviour: the classic API starts without keys, as drop-in users
// expect, and says once that it gossips in plaintext; with
// Options.SecretKeys it encrypts and says nothing.
func TestCompatPlaintextWarnsOnce(t *testing.T) {
	var logs syncBuffer
	o := classicOpts()
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := swarm.Join(o, &swarm.NodeInfo{Name: "plain", Addr: net.IPv4(127, 0, 0, 1), Port: freePort(t)}, nil, nil)
	require.NoError(t, err)
	s.Leave()
	require.Equal(t, 1, strings.Count(logs.String(), "plaintext"), logs.String())

	var quiet syncBuffer
	o.Logger = slog.New(slog.NewTextHandler(&quiet, nil))
	o.SecretKeys = [][]byte{bytes.Repeat([]byte{7}, 32)}
	s, err = swarm.Join(o, &swarm.NodeInfo{Name: "secret", Addr: net.IPv4(127, 0, 0, 1), Port: freePort(t)}, nil, nil)
	require.NoError(t, err)
	defer s.Leave()
	require.NotContains(t, quiet.String(), "plaintext")
	require.NoError(t, s.Node().InstallKey(bytes.Repeat([]byte{8}, 32)), "the node has a keyring")
}

// Behaviour: Start lists the peers first. The predecessor exited the
// process when the listing failed; shoal starts alone, counts it, and
// joins the peers re-discovery finds once the source answers.
func TestCompatStartSurvivesAFailingPeerList(t *testing.T) {
	reg := discovery.NewFakeRegistry()
	first, err := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "list-a", FakeRegistry: reg, Tune: fastTune})
	require.NoError(t, err)
	t.Cleanup(first.Leave)
	reg.SetError(errors.New("api server down"))
	second, err := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "list-b", FakeRegistry: reg, Tune: fastTune})
	require.NoError(t, err)
	t.Cleanup(second.Leave)
	require.Equal(t, uint64(1), second.Node().Stats().Drops["classic_discovery_failed"])
	reg.SetError(nil)
	waitSees(t, []*swarm.Swarm{first, second}, "list-a", "list-b")
}
