package swarm

// Health is how a node is doing, as its failure detector sees it: what a
// readiness probe and an alert want to know.
type Health struct {
	// Score is memberlist's health ("awareness") score: 0 while the node
	// answers and gets answers in time; each missed ack or suspicion it had
	// to refute raises it, each good probe lowers it, up to 7. Memberlist
	// stretches this node's probe timeouts by Score+1, so a node starved
	// of CPU or losing packets does not declare healthy peers dead.
	Score int
	// Members is how many members are alive, this node included.
	Members int
	// Ready reports whether the node is running: created and not yet left
	// or closed. A node alone is ready: it serves with what it has, and
	// joins its peers when they appear.
	Ready bool
	// Degraded reports Score > 0: the node itself is slow or losing
	// packets, so its failure detection is slower and its view of the
	// cluster may lag.
	Degraded bool
}

// Health returns the node's health. It takes no lock that memberlist's
// callbacks hold, and costs well under a microsecond.
func (n *Node) Health() Health {
	score := n.ml.GetHealthScore()
	return Health{
		Score:    score,
		Members:  n.numMembers(),
		Ready:    !n.closed.Load(),
		Degraded: score > 0,
	}
}
