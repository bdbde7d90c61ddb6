package discovery

import (
	"net/netip"
	"slices"
)

// podList is the part of a v1 PodList that discovery reads.
type podList struct {
	Metadata struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
	Items []pod `json:"items"`
}

type pod struct {
	Metadata struct {
		Name              string  `json:"name"`
		DeletionTimestamp *string `json:"deletionTimestamp"`
	} `json:"metadata"`
	Status struct {
		Phase  string `json:"phase"`
		PodIP  string `json:"podIP"`
		PodIPs []struct {
			IP string `json:"ip"`
		} `json:"podIPs"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

// status is the part of a v1 Status (the body of an API error) that error
// messages quote.
type status struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// ip returns the pod's primary IP, or false if it has none (yet).
func (p *pod) ip() (netip.Addr, bool) {
	a, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// ips returns all of the pod's IPs (dual stack), primary first.
func (p *pod) ips() []netip.Addr {
	var out []netip.Addr
	if a, ok := p.ip(); ok {
		out = append(out, a)
	}
	for _, x := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(x.IP); err == nil && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// serving reports whether the pod should be gossiped with: Running, Ready,
// with an IP, and not being deleted (a terminating pod may still be Ready
// for its grace period, but is about to leave).
func (p *pod) serving() bool {
	if p.Metadata.DeletionTimestamp != nil || p.Status.Phase != "Running" {
		return false
	}
	if _, ok := p.ip(); !ok {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}
