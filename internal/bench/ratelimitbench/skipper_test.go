package ratelimitbench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The local log records only what it admits: at most its capacity per
// window, the oldest entry leaving first; a resize keeps the newest.
func TestSkipperLocalLog(t *testing.T) {
	s := int64(time.Second)
	l := &skipperLimiter{window: 10 * time.Second, log: make([]int64, 3)}
	require.Zero(t, l.oldest(), "not full: no oldest")
	for _, at := range []int64{1, 2, 3} {
		l.admitLocal(at * s)
	}
	require.Equal(t, 1*s, l.oldest())
	l.admitLocal(4 * s) // the oldest (1 s) is still in the window: not recorded
	require.Equal(t, 1*s, l.oldest())
	l.admitLocal(12 * s) // 1 s has left the window
	require.Equal(t, 2*s, l.oldest())
	l.resize(2)
	require.Equal(t, []int64{3 * s, 12 * s}, l.log)
	require.Equal(t, 3*s, l.oldest())
	l.resize(4)
	require.Zero(t, l.oldest(), "grown: empty slots first")
	l.admitLocal(13 * s)
	require.Zero(t, l.oldest(), "one slot still empty")
	l.admitLocal(14 * s)
	require.Equal(t, 3*s, l.oldest())
}

func TestRunShortSkipperClassic(t *testing.T) {
	res, err := Run(context.Background(), Params{Backend: BackendSkipperClassic, Nodes: 3, Limit: 100, Window: time.Second, Duration: 3 * time.Second}, testWriter{t})
	require.NoError(t, err)
	assert.Equal(t, BackendSkipperClassic, res.Backend)
	assert.Greater(t, res.Offered, 400)
	assert.Positive(t, res.Admitted)
	assert.Less(t, res.Admitted, res.Offered, "it limits")
	assert.Positive(t, res.WireBytesPerSecPerNode)
}
