package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrUnavailable is returned by Available and Setup when this machine
// cannot host the lab: not root, ip or iptables missing, or the kernel (or
// a restricted container) refuses network namespaces, veths or iptables.
var ErrUnavailable = errors.New("shoal/lab: network namespaces unavailable")

// The iptables chains the lab adds to each host's INPUT chain: partition
// rules and the random-loss rule live apart, so each can be flushed alone.
const (
	chainPartition = "SHOAL-PART"
	chainLoss      = "SHOAL-LOSS"
)

// Host is one network namespace of a Network, where one node runs.
type Host struct {
	// Name is the host's short name: "n1", "n2", ...
	Name string
	// Namespace is the network namespace's name (for ip netns exec).
	Namespace string
	// Addr is the host's address on the lab's bridge.
	Addr netip.Addr
}

// Network is a set of network namespaces ("hosts"), each with one veth
// whose other end is a port of a bridge that lives in one more namespace
// (the hub). Nothing is created in the namespace of the caller: no
// interface, address, route or rule, so the lab cannot disturb the
// machine's own networking, and removing the namespaces removes
// everything. Every name starts with the prefix given to Setup.
//
// A Network is safe for concurrent use.
type Network struct {
	prefix string
	hub    string
	hosts  []Host

	mu     sync.Mutex
	closed bool
}

// Available reports, as an error wrapping ErrUnavailable, why this machine
// cannot host the lab, or nil when it may (Setup can still fail, for
// example in a container that forbids namespaces).
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not running as root (euid %d)", ErrUnavailable, os.Geteuid())
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found (apt-get install -y iproute2 iptables): %v", ErrUnavailable, tool, err)
		}
	}
	return nil
}

// RunPrefix returns a name prefix unique to this run: base, this process's
// id (so RemoveLeftovers can tell a crashed run from a running one) and a
// random suffix.
func RunPrefix(base string) string {
	return fmt.Sprintf("%s-%d-%04x", base, os.Getpid(), rand.N(1<<16))
}

// Setup creates n hosts named n1…nN on subnet (a /24 or narrower, of
// which it uses addresses .1 to .N), joined by a bridge, each with the
// lab's iptables chains in place and empty. On error it removes what it
// created. Errors of the environment (namespaces refused, iptables not
// working) wrap ErrUnavailable.
func Setup(ctx context.Context, prefix string, n int, subnet netip.Prefix) (*Network, error) {
	if n < 1 || n > 200 {
		return nil, fmt.Errorf("shoal/lab: %d hosts: want 1 to 200", n)
	}
	if !subnet.Addr().Is4() || subnet.Bits() > 24 {
		return nil, fmt.Errorf("shoal/lab: subnet %v: want an IPv4 /24 or wider", subnet)
	}
	nw := &Network{prefix: prefix, hub: prefix + "-hub"}
	base := subnet.Masked().Addr().As4()
	for i := 1; i <= n; i++ {
		a := base
		a[3] = byte(i)
		nw.hosts = append(nw.hosts, Host{
			Name:      fmt.Sprintf("n%d", i),
			Namespace: fmt.Sprintf("%s-n%d", prefix, i),
			Addr:      netip.AddrFrom4(a),
		})
	}
	if err := nw.create(ctx, subnet.Bits()); err != nil {
		return nil, errors.Join(err, nw.Close())
	}
	return nw, nil
}

// create builds the hub with its bridge, then each host with its veth,
// address and iptables chains.
func (nw *Network) create(ctx context.Context, bits int) error {
	if err := run(ctx, "ip", "netns", "add", nw.hub); err != nil {
		return unavailable(err)
	}
	steps := [][]string{
		{"ip", "-n", nw.hub, "link", "set", "lo", "up"},
		{"ip", "-n", nw.hub, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", nw.hub, "link", "set", "br0", "up"},
	}
	for i, h := range nw.hosts {
		veth := fmt.Sprintf("v%d", i+1)
		steps = append(steps,
			[]string{"ip", "netns", "add", h.Namespace},
			[]string{"ip", "-n", h.Namespace, "link", "set", "lo", "up"},
			[]string{"ip", "-n", nw.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.Namespace},
			[]string{"ip", "-n", nw.hub, "link", "set", veth, "master", "br0", "up"},
			[]string{"ip", "-n", h.Namespace, "addr", "add", fmt.Sprintf("%v/%d", h.Addr, bits), "dev", "eth0"},
			[]string{"ip", "-n", h.Namespace, "link", "set", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return unavailable(err)
		}
	}
	for _, h := range nw.hosts {
		for _, rule := range [][]string{
			{"-N", chainPartition},
			{"-N", chainLoss},
			{"-A", "INPUT", "-j", chainPartition},
			{"-A", "INPUT", "-j", chainLoss},
		} {
			if err := nw.iptables(ctx, h, rule...); err != nil {
				return unavailable(err)
			}
		}
	}
	return nil
}

// unavailable marks a command's failure as the environment's.
func unavailable(err error) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, strings.TrimPrefix(err.Error(), "shoal/lab: "))
}

// Hosts returns the hosts, n1 first. The caller owns the slice.
func (nw *Network) Hosts() []Host {
	return append([]Host(nil), nw.hosts...)
}

// Prefix returns the prefix of every name the network created.
func (nw *Network) Prefix() string { return nw.prefix }

// SetLoss makes every host drop each incoming packet (other than on its
// loopback) with probability p, using iptables' statistic match; 0 removes
// the loss.
func (nw *Network) SetLoss(ctx context.Context, p float64) error {
	if p < 0 || p >= 1 {
		return fmt.Errorf("shoal/lab: loss %v: want 0 <= p < 1", p)
	}
	for _, h := range nw.hosts {
		if err := nw.iptables(ctx, h, "-F", chainLoss); err != nil {
			return err
		}
		if p == 0 {
			continue
		}
		if err := nw.iptables(ctx, h, "-A", chainLoss, "!", "-i", "lo",
			"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(p, 'f', -1, 64),
			"-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// Partition cuts the network into the given groups of host indexes (0 for
// n1): each host drops every packet from a host of another group. Hosts in
// no group keep talking to everyone. It replaces any earlier partition.
func (nw *Network) Partition(ctx context.Context, groups ...[]int) error {
	group := make(map[int]int)
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= len(nw.hosts) {
				return fmt.Errorf("shoal/lab: partition: no host %d", i)
			}
			if _, dup := group[i]; dup {
				return fmt.Errorf("shoal/lab: partition: host %d in two groups", i)
			}
			group[i] = g
		}
	}
	if err := nw.Heal(ctx); err != nil {
		return err
	}
	for i, h := range nw.hosts {
		gi, ok := group[i]
		if !ok {
			continue
		}
		for j, o := range nw.hosts {
			if gj, ok := group[j]; ok && gj != gi {
				if err := nw.iptables(ctx, h, "-A", chainPartition, "-s", o.Addr.String(), "-j", "DROP"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Heal removes every partition rule.
func (nw *Network) Heal(ctx context.Context) error {
	for _, h := range nw.hosts {
		if err := nw.iptables(ctx, h, "-F", chainPartition); err != nil {
			return err
		}
	}
	return nil
}

// Dropped returns how many packets the loss and the partition rules have
// dropped so far, summed over all hosts.
func (nw *Network) Dropped(ctx context.Context) (loss, partition uint64, err error) {
	for _, h := range nw.hosts {
		l, err := nw.chainPackets(ctx, h, chainLoss)
		if err != nil {
			return 0, 0, err
		}
		p, err := nw.chainPackets(ctx, h, chainPartition)
		if err != nil {
			return 0, 0, err
		}
		loss, partition = loss+l, partition+p
	}
	return loss, partition, nil
}

// chainPackets sums the packet counters of the rules of one chain.
func (nw *Network) chainPackets(ctx context.Context, h Host, chain string) (uint64, error) {
	out, err := output(ctx, "ip", "netns", "exec", h.Namespace, "iptables", "-w", "-L", chain, "-n", "-v", "-x")
	if err != nil {
		return 0, err
	}
	// "Chain X (1 references)", a header, then one line per rule that
	// starts with its packet count.
	var sum uint64
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines[min(2, len(lines)):] {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		p, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("shoal/lab: iptables -L %s in %s: rule line %q: %w", chain, h.Namespace, l, err)
		}
		sum += p
	}
	return sum, nil
}

// Close kills whatever still runs in the network's namespaces and removes
// them, which removes the veths, the bridge and the iptables rules with
// them. It is idempotent and returns every error it met.
func (nw *Network) Close() error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.closed {
		return nil
	}
	nw.closed = true
	var errs []error
	for _, h := range nw.hosts {
		errs = append(errs, removeNamespace(h.Namespace))
	}
	errs = append(errs, removeNamespace(nw.hub))
	return errors.Join(errs...)
}

// iptables runs iptables in host h's namespace; -w waits for the xtables
// lock instead of failing when another iptables runs.
func (nw *Network) iptables(ctx context.Context, h Host, args ...string) error {
	return run(ctx, append([]string{"ip", "netns", "exec", h.Namespace, "iptables", "-w"}, args...)...)
}

// RemoveLeftovers removes the namespaces of earlier runs that died before
// cleaning up: those named base-PID-… whose process PID no longer runs.
// Namespaces of a run still in progress (another test process) are left
// alone. It returns the names it removed. When namespaces cannot even be
// listed, the error wraps ErrUnavailable.
func RemoveLeftovers(ctx context.Context, base string) ([]string, error) {
	out, err := output(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, unavailable(err)
	}
	var removed []string
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line) // "name (id: 3)" or "name"
		if len(f) == 0 || !strings.HasPrefix(f[0], base+"-") {
			continue
		}
		name := f[0]
		pidText, _, _ := strings.Cut(strings.TrimPrefix(name, base+"-"), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processRuns(pid) {
			continue
		}
		if err := removeNamespace(name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}

// processRuns reports whether a process with this id exists.
func processRuns(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// removeNamespace kills the processes in namespace ns (only the lab's
// nodes run there) and deletes it. A namespace that is already gone is not
// an error.
func removeNamespace(ns string) error {
	ctx := context.Background()
	if _, err := os.Stat("/run/netns/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := output(ctx, "ip", "netns", "pids", ns); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL) // it may have exited meanwhile
			}
		}
	}
	return run(ctx, "ip", "netns", "delete", ns)
}

// run runs a command and returns an error carrying its output when it
// fails.
func run(ctx context.Context, args ...string) error {
	_, err := output(ctx, args...)
	return err
}

// output runs a command and returns its standard output; a failure's error
// names the command and carries its standard error.
func output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("shoal/lab: %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}
