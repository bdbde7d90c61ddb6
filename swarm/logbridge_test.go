package swarm

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// A send that fails on the node's own closed socket while it shuts down
// is logged at debug level and not counted as a transport error; the
// same failure while the node runs, and any other error line, stay
// errors.
func TestLogBridgeQuietsTheNodesOwnClosedSocket(t *testing.T) {
	var out bytes.Buffer
	var st counters
	var closing atomic.Bool
	l := newLogBridge(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})), &st, closing.Load)
	failed := "[ERR] memberlist: Failed to send UDP ping: write udp 127.0.0.1:1->127.0.0.1:2: use of closed network connection"

	l.Print(failed)
	require.Contains(t, out.String(), "level=ERROR")
	require.Equal(t, uint64(1), st.transportErrors.Load(), "a closed socket while running is an error")

	out.Reset()
	closing.Store(true)
	l.Print(failed)
	require.Contains(t, out.String(), "level=DEBUG")
	require.Contains(t, out.String(), "use of closed network connection")
	require.Equal(t, uint64(1), st.transportErrors.Load(), "not counted while closing")

	out.Reset()
	l.Print("[ERR] memberlist: failed to decrypt packet")
	require.True(t, strings.Contains(out.String(), "level=ERROR"), out.String())
	require.Equal(t, uint64(2), st.transportErrors.Load(), "other errors while closing are counted")
}
