package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	labBase  = "shoallab" // every namespace of every run starts with this
	labNodes = 6
	labPort  = 7946
	lossRate = 0.2

	// Deadlines. They are about three times the worst times measured on a
	// loaded 2-core machine (two lab runs at once under -race; typical
	// times in brackets), because the rest of ./... may load it too.
	startDeadline    = 30 * time.Second // all nodes see all members (0.3 s) and a restarted node joins (2 s, worst 8 s)
	convergeDeadline = 30 * time.Second // every node holds the exact total (1 s under 20 % loss, worst 9 s)
	splitDeadline    = 60 * time.Second // each side sees only itself: failure detection (10 s, worst 20 s)
	healDeadline     = 30 * time.Second // one cluster again, exact total (2 s, worst 3.3 s)
	commandTimeout   = 10 * time.Second // one line-protocol round trip
	pollInterval     = 50 * time.Millisecond
)

// labSubnet is used only on the veths inside the lab's own namespaces.
var labSubnet = netip.MustParsePrefix("10.213.7.0/24")

// skipOrFail skips the test with reason, or fails it when the lab is
// required (SHOAL_REQUIRE_LAB=1, as on CI).
func skipOrFail(t *testing.T, reason error) {
	t.Helper()
	if os.Getenv("SHOAL_REQUIRE_LAB") == "1" {
		t.Fatalf("fault lab required (SHOAL_REQUIRE_LAB=1) but unavailable: %v", reason)
	}
	t.Skipf("fault lab skipped: %v (it needs root, ip and iptables, and network namespaces; SHOAL_REQUIRE_LAB=1 turns this skip into a failure)", reason)
}

// requireLab skips (or fails) when this machine cannot host the lab, and
// otherwise removes the namespaces of earlier runs that died.
func requireLab(t *testing.T) {
	t.Helper()
	if testing.Short() && os.Getenv("SHOAL_REQUIRE_LAB") != "1" {
		t.Skip("fault lab skipped in -short mode")
	}
	if err := Available(); err != nil {
		skipOrFail(t, err)
	}
	removed, err := RemoveLeftovers(context.Background(), labBase)
	if errors.Is(err, ErrUnavailable) {
		skipOrFail(t, err)
	}
	if err != nil {
		t.Fatalf("remove leftovers of earlier runs: %v", err)
	}
	if len(removed) > 0 {
		t.Logf("removed leftover namespaces of earlier runs: %v", removed)
	}
}

// setupNetwork creates a network of n hosts, removed when the test ends.
func setupNetwork(t *testing.T, n int) *Network {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw, err := Setup(ctx, RunPrefix(labBase), n, labSubnet)
	if errors.Is(err, ErrUnavailable) {
		skipOrFail(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Errorf("remove the lab network: %v", err)
		}
	})
	return nw
}

// cluster is the lab: one labnode per host, and the total of every add
// the nodes acknowledged.
type cluster struct {
	hosts []Host
	bin   string

	mu    sync.Mutex
	procs []*Process
	total int64
}

func newCluster(t *testing.T, nw *Network, bin string) *cluster {
	c := &cluster{hosts: nw.Hosts(), bin: bin}
	c.procs = make([]*Process, len(c.hosts))
	t.Cleanup(func() {
		for _, p := range c.processes() {
			if p == nil {
				continue
			}
			if err := p.Kill(); err != nil {
				t.Errorf("kill %s: %v", p.Name(), err)
			}
			if t.Failed() {
				t.Logf("stderr of %s:\n%s", p.Name(), p.Stderr())
			}
		}
	})
	return c
}

func (c *cluster) processes() []*Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.procs)
}

func (c *cluster) proc(i int) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[i]
}

// addr returns host i's gossip address.
func (c *cluster) addr(i int) string {
	return netip.AddrPortFrom(c.hosts[i].Addr, labPort).String()
}

// start starts the node of host i, joining the hosts in join; every node
// re-discovers all the others, which is what heals partitions.
func (c *cluster) start(ctx context.Context, i int, join []int) error {
	var joins, peers []string
	for _, j := range join {
		joins = append(joins, c.addr(j))
	}
	for j := range c.hosts {
		if j != i {
			peers = append(peers, c.addr(j))
		}
	}
	h := c.hosts[i]
	p, err := Start(ctx, h.Name, h.Namespace, c.bin,
		"-name", h.Name, "-bind", h.Addr.String(), "-port", strconv.Itoa(labPort),
		"-join", strings.Join(joins, ","), "-peers", strings.Join(peers, ","))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs[i] = p
	c.mu.Unlock()
	return nil
}

// startAll starts n1 alone, then the others at once, each joining n1,
// and waits until every node sees every other.
func (c *cluster) startAll(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	begin := time.Now()
	if err := c.start(ctx, 0, nil); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(c.hosts))
	var wg sync.WaitGroup
	for i := 1; i < len(c.hosts); i++ {
		wg.Go(func() { errs[i] = c.start(ctx, i, []int{0}) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	c.waitMembers(t, all(len(c.hosts)), startDeadline)
	t.Logf("%d nodes started and see each other after %v", len(c.hosts), time.Since(begin).Round(time.Millisecond))
}

// add makes each node in nodes do adds adds of 1, 2, 3, … concurrently,
// and returns how much was added in all.
func (c *cluster) add(t *testing.T, nodes []int, adds int) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for k, i := range nodes {
		p := c.proc(i)
		wg.Go(func() {
			for a := 1; a <= adds; a++ {
				if err := p.Add(ctx, int64(a)); err != nil {
					errs[k] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sum := int64(len(nodes) * adds * (adds + 1) / 2)
	c.mu.Lock()
	c.total += sum
	c.mu.Unlock()
	return sum
}

// waitValue polls the nodes until each holds want, and returns how long
// that took. Every add is positive, so a value above want is a double
// count: it fails at once.
func (c *cluster) waitValue(t *testing.T, nodes []int, want int64, deadline time.Duration) time.Duration {
	t.Helper()
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline+commandTimeout)
	defer cancel()
	for {
		got := make([]string, 0, len(nodes))
		done := true
		for _, i := range nodes {
			v, err := c.proc(i).Value(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v > want {
				t.Fatalf("%s holds %d, more than the %d added: an increment was counted twice", c.hosts[i].Name, v, want)
			}
			done = done && v == want
			got = append(got, fmt.Sprintf("%s=%d", c.hosts[i].Name, v))
		}
		if done {
			return time.Since(begin)
		}
		if time.Since(begin) > deadline {
			t.Fatalf("not converged to %d within %v: %s", want, deadline, strings.Join(got, " "))
		}
		time.Sleep(pollInterval)
	}
}

// waitMembers polls the nodes until each sees exactly the nodes alive,
// and returns how long that took.
func (c *cluster) waitMembers(t *testing.T, nodes []int, deadline time.Duration) time.Duration {
	t.Helper()
	var want []string
	for _, i := range nodes {
		want = append(want, c.hosts[i].Name)
	}
	slices.Sort(want)
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline+commandTimeout)
	defer cancel()
	for {
		got := make([]string, 0, len(nodes))
		done := true
		for _, i := range nodes {
			m, err := c.proc(i).Members(ctx)
			if err != nil {
				t.Fatal(err)
			}
			done = done && slices.Equal(m, want)
			got = append(got, fmt.Sprintf("%s sees %v", c.hosts[i].Name, m))
		}
		if done {
			return time.Since(begin)
		}
		if time.Since(begin) > deadline {
			t.Fatalf("members not %v within %v: %s", want, deadline, strings.Join(got, "; "))
		}
		time.Sleep(pollInterval)
	}
}

// all returns the indexes 0…n-1.
func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }

// TestLab runs six labnode processes in six network namespaces and checks
// that the counter every node adds to converges to the exact total under
// 20 % packet loss, across a partition and its healing, and across a
// SIGKILL and restart of one node. The loss stays on from the first step
// to the last.
func TestLab(t *testing.T) {
	requireLab(t)
	nw := setupNetwork(t, labNodes)
	c := newCluster(t, nw, labnodeBinary(t))
	c.startAll(t)
	ctx := context.Background()
	everyone := all(labNodes)

	ok := t.Run("loss", func(t *testing.T) {
		if err := nw.SetLoss(ctx, lossRate); err != nil {
			t.Fatal(err)
		}
		// Round after round, every node adds and every node must reach the
		// exact total: each round's last delta from each node is lost on
		// its way to some node often enough that relayed gossip and
		// anti-entropy have to repair it.
		const rounds, adds = 10, 5
		var took []time.Duration
		for range rounds {
			c.add(t, everyone, adds)
			took = append(took, c.waitValue(t, everyone, c.total, convergeDeadline))
		}
		lost, _, err := nw.Dropped(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if lost == 0 {
			t.Fatal("the loss rules dropped no packet: the lab is not injecting loss")
		}
		slices.Sort(took)
		t.Logf("%.0f%% loss: %d rounds of %d adds on each of %d nodes (total %d); each round converged on every node in median %v, max %v; %d packets dropped",
			lossRate*100, rounds, adds, labNodes, c.total, round(took[len(took)/2]), round(took[len(took)-1]), lost)
	})
	ok = ok && t.Run("partition", func(t *testing.T) {
		left, right := []int{0, 1, 2}, []int{3, 4, 5}
		before := c.total
		if err := nw.Partition(ctx, left, right); err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		c.waitMembers(t, left, splitDeadline)
		c.waitMembers(t, right, splitDeadline)
		t.Logf("partition {n1,n2,n3} | {n4,n5,n6}: each side sees only itself after %v", round(time.Since(begin)))

		// Each side converges to its own adds only: the partition holds.
		addedLeft := c.add(t, left, 20)
		addedRight := c.add(t, right, 25)
		tookLeft := c.waitValue(t, left, before+addedLeft, convergeDeadline)
		tookRight := c.waitValue(t, right, before+addedRight, convergeDeadline)
		t.Logf("while partitioned: left converged to %d in %v, right to %d in %v",
			before+addedLeft, round(tookLeft), before+addedRight, round(tookRight))

		_, cut, err := nw.Dropped(ctx) // before Heal resets the counters
		if err != nil {
			t.Fatal(err)
		}
		if cut == 0 {
			t.Fatal("the partition rules dropped no packet: the lab did not partition")
		}

		if err := nw.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		begin = time.Now()
		c.waitValue(t, everyone, c.total, healDeadline)
		tookValue := time.Since(begin)
		c.waitMembers(t, everyone, healDeadline)
		t.Logf("healed: every node holds the exact total %d after %v, sees all %d members after %v (partition dropped %d packets)",
			c.total, round(tookValue), labNodes, round(time.Since(begin)), cut)
	})
	ok = ok && t.Run("kill_restart", func(t *testing.T) {
		const victim = 2 // n3
		others := slices.DeleteFunc(all(labNodes), func(i int) bool { return i == victim })
		c.add(t, []int{victim}, 40)
		c.waitValue(t, everyone, c.total, convergeDeadline)
		oldInc, err := c.proc(victim).Incarnation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.proc(victim).Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		c.add(t, others, 10)
		tookOthers := c.waitValue(t, others, c.total, convergeDeadline)
		t.Logf("n3 killed with SIGKILL; adds on the other five converged to %d in %v", c.total, round(tookOthers))

		startCtx, cancel := context.WithTimeout(ctx, startDeadline)
		defer cancel()
		restart := time.Now()
		if err := c.start(startCtx, victim, others); err != nil {
			t.Fatal(err)
		}
		joined := time.Since(restart)
		restarted := c.proc(victim)
		newInc, err := restarted.Incarnation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if newInc == oldInc {
			t.Fatalf("restarted n3 kept incarnation %d: its new adds would share the old slot", oldInc)
		}
		// Join exchanges full state, so the restarted node holds the old
		// slot's count, and everyone else's, as soon as it is ready.
		if v, err := restarted.Value(ctx); err != nil || v != c.total {
			t.Fatalf("restarted n3 holds %d (err %v) right after joining, want %d", v, err, c.total)
		}
		t.Logf("n3 restarted (incarnation %d -> %d) and joined in %v, %v after the kill; it held the exact total %d on joining",
			oldInc, newInc, round(joined), round(time.Since(killed)), c.total)

		c.add(t, []int{victim}, 15)
		c.add(t, everyone, 5)
		took := c.waitValue(t, everyone, c.total, convergeDeadline)
		tookMembers := c.waitMembers(t, everyone, convergeDeadline)
		t.Logf("after restart: adds on the new slot and on everyone converged to %d in %v, all %d members alive %v later; every add counted exactly once",
			c.total, round(took), labNodes, round(tookMembers))
	})
	if !ok {
		t.Log("a step failed; later steps were not run")
	}
}
