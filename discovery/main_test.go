package discovery

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// source closes its connections, and kubetest's process waiters end with
// the processes.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
