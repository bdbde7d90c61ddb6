package lab

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSetupRejectsBadArguments(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		n      int
		subnet string
	}{
		{0, "10.213.7.0/24"},
		{201, "10.213.7.0/24"},
		{3, "10.213.7.0/25"},
		{3, "fd00::/64"},
	} {
		if nw, err := Setup(ctx, "shoallab-never", tc.n, netip.MustParsePrefix(tc.subnet)); err == nil {
			nw.Close()
			t.Errorf("Setup(%d hosts, %s) succeeded, want an error", tc.n, tc.subnet)
		}
	}
}

func TestPartitionAndLossRejectBadArguments(t *testing.T) {
	// Validation happens before any command runs, so no root is needed.
	nw := &Network{hosts: make([]Host, 3)}
	ctx := context.Background()
	if err := nw.Partition(ctx, []int{0}, []int{3}); err == nil {
		t.Error("Partition with host 3 of 3 succeeded")
	}
	if err := nw.Partition(ctx, []int{0, 1}, []int{1, 2}); err == nil {
		t.Error("Partition with host 1 in two groups succeeded")
	}
	for _, p := range []float64{-0.1, 1, 2} {
		if err := nw.SetLoss(ctx, p); err == nil {
			t.Errorf("SetLoss(%v) succeeded", p)
		}
	}
}

// namespaces returns the names of the network namespaces that start with
// prefix.
func namespaces(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names
}

func TestNetworkCloseRemovesEverything(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw := setupNetwork(t, 2)
	if got := namespaces(t, nw.Prefix()); len(got) != 3 {
		t.Fatalf("namespaces after Setup: %v, want the hub and two hosts", got)
	}
	// A process in a namespace must not keep it (or its veth) alive.
	h := nw.Hosts()[0]
	sleeper := exec.Command("ip", "netns", "exec", h.Namespace, "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	if err := nw.Partition(ctx, []int{0}, []int{1}); err != nil {
		t.Fatal(err)
	}
	if err := nw.SetLoss(ctx, 0.5); err != nil {
		t.Fatal(err)
	}

	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := namespaces(t, nw.Prefix()); len(got) != 0 {
		t.Errorf("namespaces after Close: %v, want none", got)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		sleeper.Process.Kill()
		t.Error("the process in a host's namespace survived Close")
	}
	if err := nw.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
}

func TestRemoveLeftoversSparesLiveRuns(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const base = "shoallableftover"

	// A pid that no longer runs: a process that has exited and been reaped.
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	dead := base + "-" + strconv.Itoa(done.Process.Pid) + "-0001"
	live := base + "-1-0002" // pid 1 always runs
	mine := base + "-" + strconv.Itoa(os.Getpid()) + "-0003"
	for _, ns := range []string{dead, live, mine} {
		if err := run(ctx, "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeNamespace(ns) })
	}
	removed, err := RemoveLeftovers(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dead {
		t.Errorf("removed %v, want only %s", removed, dead)
	}
	got := strings.Join(namespaces(t, base+"-"), " ")
	if strings.Contains(got, dead) || !strings.Contains(got, live) || !strings.Contains(got, mine) {
		t.Errorf("namespaces left: %s; want %s and %s but not %s", got, live, mine, dead)
	}
}
