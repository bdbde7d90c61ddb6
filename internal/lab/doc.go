// Package lab is shoal's fault lab: real node processes in Linux network
// namespaces, with packet loss and partitions made by iptables, to check
// that counters converge exactly when the network misbehaves the way real
// networks do (the in-process tests use a simulated transport instead).
//
// Its test, TestLab, runs as part of `go test ./...` when it can: it needs
// root, ip (iproute2) and iptables, and a kernel that allows network
// namespaces. Elsewhere it skips and says why; with SHOAL_REQUIRE_LAB=1 (as
// on CI) it fails instead. On Debian or Ubuntu:
//
//	apt-get install -y iproute2 iptables
//
// # Usage
//
// A Network is a set of namespaces n1…nN joined by a bridge that lives in
// one more namespace, so nothing at all is added to the machine's own
// network namespace; removing the namespaces removes the veths, the bridge
// and every rule:
//
//	prefix := lab.RunPrefix("shoallab") // shoallab-PID-RAND
//	lab.RemoveLeftovers(ctx, "shoallab") // of runs that died
//	nw, err := lab.Setup(ctx, prefix, 6, netip.MustParsePrefix("10.213.7.0/24"))
//	defer nw.Close()
//	nw.SetLoss(ctx, 0.2)                        // 20 % of packets dropped
//	nw.Partition(ctx, []int{0, 1, 2}, []int{3, 4, 5})
//	nw.Heal(ctx)
//
// A Process is one labnode (internal/cmd/labnode) started in a host's
// namespace and driven over its stdin and stdout:
//
//	h := nw.Hosts()[0]
//	p, err := lab.Start(ctx, h.Name, h.Namespace, bin,
//		"-name", h.Name, "-bind", h.Addr.String(), "-port", "7946")
//	p.Add(ctx, 5)
//	v, err := p.Value(ctx)
//	p.Kill() // SIGKILL
//
// The package is internal: it is test equipment, not API.
package lab
