package ratelimitbench

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The Lua baseline stays exact when scripts run out of the order of their
// stamps, as they do when a client is delayed between stamping a request
// and its round trip. With L = 2 and W = 1 s: X and Y are admitted at 1.0
// and 1.1 s, B at 2.15 s, then A, stamped 1.5 s but run last, must be
// denied, since (0.5, 1.5] already holds X and Y. The plain sliding log
// let B drop X and Y (older than 2.15 − W) and admitted A: three in one
// window.
func TestRedisLuaCountsOutOfOrderStamps(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found (apt-get install -y redis-server)")
	}
	srv, err := startRedis(context.Background(), bin)
	require.NoError(t, err)
	defer srv.stop()
	p := Params{Limit: 2, Window: time.Second}
	a, err := newRedisLuaInstance(srv.addr, "a", p)
	require.NoError(t, err)
	defer a.close()
	b, err := newRedisLuaInstance(srv.addr, "b", p)
	require.NoError(t, err)
	defer b.close()

	base := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	require.True(t, b.allow(at(1000), 0), "X")
	require.True(t, b.allow(at(1100), 0), "Y")
	require.True(t, b.allow(at(2150), 0), "B: (1.15, 2.15] holds nothing else")
	require.False(t, a.allow(at(1500), 0), "A: (0.5, 1.5] holds X and Y")
	require.True(t, a.allow(at(2200), 0), "(1.2, 2.2] holds B only")
	require.False(t, b.allow(at(2250), 0), "(1.25, 2.25] holds B and the last")
}
