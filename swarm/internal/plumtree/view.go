package plumtree

// SampleView returns a node's partial view of the membership: up to k
// peers of members, keeping those of current that are still members (so
// tree links survive unrelated membership changes) and filling up with
// random ones. intn(n) returns a uniform integer in [0, n); members must
// not contain the node itself. It costs O(len(members)).
func SampleView(current, members []Peer, k int, intn func(n int) int) []Peer {
	if k <= 0 {
		return nil
	}
	isMember := make(map[Peer]struct{}, len(members))
	for _, m := range members {
		isMember[m] = struct{}{}
	}
	view := make([]Peer, 0, k)
	inView := make(map[Peer]struct{}, k)
	for _, p := range current {
		if _, ok := isMember[p]; ok && len(view) < k {
			if _, dup := inView[p]; !dup {
				view = append(view, p)
				inView[p] = struct{}{}
			}
		}
	}
	if len(view) >= k || len(view) >= len(isMember) {
		return view
	}
	// A partial Fisher–Yates shuffle of the candidates not yet chosen.
	cand := make([]Peer, 0, len(members))
	for _, m := range members {
		if _, ok := inView[m]; !ok {
			cand = append(cand, m)
		}
	}
	for i := 0; i < len(cand) && len(view) < k; i++ {
		j := i + intn(len(cand)-i)
		cand[i], cand[j] = cand[j], cand[i]
		if _, dup := inView[cand[i]]; !dup {
			view = append(view, cand[i])
			inView[cand[i]] = struct{}{}
		}
	}
	return view
}
