package discovery

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFakeRegistryAddRemove(t *testing.T) {
	t.Parallel()
	r := NewFakeRegistry()
	got, err := r.Peers(t.Context())
	require.NoError(t, err)
	assert.Empty(t, got)

	require.NoError(t, r.Add(peer("b", "10.0.0.2:1"), peer("a", "10.0.0.1:1")))
	require.NoError(t, r.Add(peer("b", "10.0.0.22:1"))) // replaces b
	got, err = r.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Peer{peer("a", "10.0.0.1:1"), peer("b", "10.0.0.22:1")}, got)

	r.Remove("a", "unknown")
	got, err = r.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Peer{peer("b", "10.0.0.22:1")}, got)
	assert.Equal(t, 3, r.Calls())
}

func TestFakeRegistryRejectsInvalidAtomically(t *testing.T) {
	t.Parallel()
	r := NewFakeRegistry()
	err := r.Add(peer("ok", "10.0.0.1:1"), peer("bad", "10.0.0.2:0"))
	require.ErrorIs(t, err, ErrInvalidConfig)
	got, err := r.Peers(t.Context())
	require.NoError(t, err)
	assert.Empty(t, got, "nothing is added when one peer is invalid")
}

func TestFakeRegistrySetError(t *testing.T) {
	t.Parallel()
	r := NewFakeRegistry()
	require.NoError(t, r.Add(peer("a", "10.0.0.1:1")))
	boom := errors.New("boom")
	r.SetError(boom)
	_, err := r.Peers(t.Context())
	assert.Same(t, boom, err)
	r.SetError(nil)
	got, err := r.Peers(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 1)
}

// TestFakeRegistryIsolation runs parallel tests that each own a registry and
// mutate it from many goroutines: none may see another's peers.
func TestFakeRegistryIsolation(t *testing.T) {
	t.Parallel()
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			r := NewFakeRegistry()
			var wg sync.WaitGroup
			for j := range 20 {
				wg.Go(func() {
					p := peer(fmt.Sprintf("t%d-p%d", i, j), fmt.Sprintf("10.%d.0.%d:9990", i, j+1))
					assert.NoError(t, r.Add(p))
					_, err := r.Peers(t.Context())
					assert.NoError(t, err)
				})
			}
			wg.Wait()
			got, err := r.Peers(t.Context())
			require.NoError(t, err)
			require.Len(t, got, 20)
			for _, p := range got {
				assert.Regexp(t, fmt.Sprintf(`^t%d-p\d+$`, i), p.Name)
			}
		})
	}
}
