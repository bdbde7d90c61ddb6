package swarm

// StateBytesForTest returns the encoded size of every value's full state.
func StateBytesForTest(n *Node) uint64 {
	var total uint64
	n.valuesMu.RLock()
	names := make([]string, 0, len(n.values))
	for name := range n.values {
		names = append(names, name)
	}
	n.valuesMu.RUnlock()
	for _, name := range names {
		env, ok, err := n.stateEnvelope(name)
		if err == nil && ok {
			total += uint64(len(env.Payload) + len(env.Name) + len(env.Type))
		}
	}
	return total
}
