package swarm_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// memberlist's Shutdown does not wait for an in-flight probe: probeNode
	// waits on its ack timer (up to ProbeInterval times the awareness
	// multiplier) and then returns, and the nack timer of an indirect ping
	// it relayed (handleIndirectPing) waits up to ProbeTimeout. Every
	// goroutine shoal starts is joined by Close; those two frames of
	// memberlist's are all that is ignored.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).handleIndirectPing.func2"),
	)
}
