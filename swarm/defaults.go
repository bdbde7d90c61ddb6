package swarm

import "time"

// Defaults shared by the typed API and the classic (Swarmer-compatible)
// API; the names and values are the predecessor's.
const (
	// DefaultPort is the gossip port, for UDP and TCP.
	DefaultPort = 9990
	// DefaultMaxMessageBuffer is the classic API's largest shared value.
	DefaultMaxMessageBuffer = 1 << 22
	// DefaultLeaveTimeout bounds Leave.
	DefaultLeaveTimeout = 5 * time.Second
	// DefaultNamespace, DefaultLabelSelectorKey and
	// DefaultLabelSelectorValue select the peers' pods in Kubernetes.
	DefaultNamespace          = "kube-system"
	DefaultLabelSelectorKey   = "application"
	DefaultLabelSelectorValue = "skipper-ingress"
)
