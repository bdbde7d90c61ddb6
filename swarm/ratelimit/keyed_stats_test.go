package ratelimit

import (
	"testing"

	"github.com/shoal-go/shoal/crdt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sketch keeps the heavy hitters among many one-off keys, and forgets
// what is two rotations old.
func TestTopDenied(t *testing.T) {
	var top topDenied
	key := func(i int) crdt.KeyHash { return crdt.KeyHash{byte(i), byte(i >> 8)} }
	for i := range 1000 {
		top.add(key(1)) // a tenth of all
		if i%4 == 0 {
			top.add(key(2))
		}
		top.add(key(100 + i)) // each once
	}
	got := top.top()
	require.Len(t, got, topReport)
	assert.Equal(t, hashString(key(1)), got[0].Hash)
	assert.Equal(t, hashString(key(2)), got[1].Hash)
	assert.GreaterOrEqual(t, got[0].Denied, uint64(1000*topSample), "an over-estimate, never under")
	top.rotate()
	assert.Equal(t, hashString(key(1)), top.top()[0].Hash, "the previous generation still counts")
	top.rotate()
	assert.Empty(t, top.top())
}
