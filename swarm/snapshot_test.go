package swarm_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

var crdtLWW = crdt.LWWOptions{}

// syncBuffer is a log sink safe for the node's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func durableNode(t *testing.T, dir string, log *syncBuffer) *swarm.Node {
	t.Helper()
	cfg := swarm.DefaultLocalConfig("durable")
	cfg.StateDir = dir
	if log != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	n, err := swarm.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// A node alone, restarted with the same StateDir, reads what it counted:
// the snapshot written at Leave is merged as the names register, in a new
// incarnation's node, and a name registered only after the restart still
// finds its state.
func TestSnapshotSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	n := durableNode(t, dir, nil)
	c, err := swarm.NewCounter(n, "requests")
	require.NoError(t, err)
	m, err := swarm.NewCounterMap[string](n, "per-tenant")
	require.NoError(t, err)
	mp, err := swarm.NewMap[string, string](n, "owners", crdtLWW)
	require.NoError(t, err)
	require.NoError(t, c.Add(41))
	require.NoError(t, m.Add("acme", 7))
	require.NoError(t, mp.Set("shard-1", "a"))
	require.NoError(t, n.Leave())
	require.FileExists(t, filepath.Join(dir, "shoal.snapshot"))

	n2 := durableNode(t, dir, nil)
	require.NotEqual(t, n.Replica(), n2.Replica(), "a restart is a new incarnation")
	c2, err := swarm.NewCounter(n2, "requests")
	require.NoError(t, err)
	require.NoError(t, c2.Add(1))
	v, err := c2.Value()
	require.NoError(t, err)
	require.Equal(t, int64(42), v, "the old incarnation's slot is restored beside the new one")
	m2, err := swarm.NewCounterMap[string](n2, "per-tenant")
	require.NoError(t, err)
	tv, err := m2.Value("acme")
	require.NoError(t, err)
	require.Equal(t, int64(7), tv)
	// "owners" is not registered in this run: the next snapshot carries it.
	require.NoError(t, n2.Leave())
	n3 := durableNode(t, dir, nil)
	mp3, err := swarm.NewMap[string, string](n3, "owners", crdtLWW)
	require.NoError(t, err)
	got, ok, err := mp3.Get("shard-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "a", got)
}

// A truncated and a byte-flipped snapshot both start cleanly, with a log
// line and a Stats counter; a snapshot from a newer version fails New
// with ErrSnapshotVersion.
func TestSnapshotCorruptFilesAreIgnored(t *testing.T) {
	dir := t.TempDir()
	n := durableNode(t, dir, nil)
	c, err := swarm.NewCounter(n, "requests")
	require.NoError(t, err)
	require.NoError(t, c.Add(5))
	require.NoError(t, n.Leave())
	path := filepath.Join(dir, "shoal.snapshot")
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	newer := bytes.Clone(good)
	newer[9]++ // the format version
	for name, data := range map[string][]byte{
		"truncated":    good[:len(good)*2/3],
		"byte-flipped": flipped,
		"empty":        nil,
		"garbage":      []byte("not a snapshot at all"),
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, data, 0o600))
			var log syncBuffer
			n := durableNode(t, dir, &log)
			c, err := swarm.NewCounter(n, "requests")
			require.NoError(t, err)
			v, err := c.Value()
			require.NoError(t, err)
			require.Zero(t, v, "nothing restored from a corrupt file")
			require.Equal(t, uint64(1), n.Stats().Rejected["snapshot_corrupt"])
			require.Contains(t, log.String(), "snapshot")
			require.NoError(t, n.Close())
		})
	}
	require.NoError(t, os.WriteFile(path, newer, 0o600))
	cfg := swarm.DefaultLocalConfig("durable")
	cfg.StateDir = dir
	_, err = swarm.New(cfg)
	require.ErrorIs(t, err, swarm.ErrSnapshotVersion)
	require.ErrorContains(t, err, "format 2")
}

func TestSnapshotConfigErrors(t *testing.T) {
	cfg := swarm.DefaultLocalConfig("x")
	cfg.StateDir, cfg.Store = t.TempDir(), memStore{}
	_, err := swarm.New(cfg)
	require.ErrorIs(t, err, swarm.ErrInvalidConfig)
	require.ErrorContains(t, err, "StateDir")
	cfg = swarm.DefaultLocalConfig("x")
	cfg.StateDir, cfg.SnapshotInterval = t.TempDir(), 0
	_, err = swarm.New(cfg)
	require.ErrorContains(t, err, "SnapshotInterval")
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	cfg = swarm.DefaultLocalConfig("x")
	cfg.StateDir = file
	_, err = swarm.New(cfg)
	require.ErrorIs(t, err, swarm.ErrInvalidConfig)
}

type memStore struct{}

func (memStore) Save([]byte) error     { return nil }
func (memStore) Load() ([]byte, error) { return nil, os.ErrNotExist }

// Three nodes snapshot periodically; all are killed (Close, no Leave) and
// restarted with their directories: every node reads at least what was
// counted before the last snapshot, and never more than was counted.
func TestSnapshotAllNodesRestartAtOnce(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	start := func() (*swarmtest.Cluster, []*swarm.Counter) {
		c := swarmtest.Start(t, 3, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
			cfg.StateDir, cfg.SnapshotInterval = dirs[i], 200*time.Millisecond
		}})
		return c, counters(t, c, "requests")
	}
	c, cs := start()
	for i, ctr := range cs {
		require.NoError(t, ctr.Add(int64(100*(i+1))))
	}
	waitCounters(t, cs, 600, 20*time.Second)
	// Wait until every node has snapshotted the converged value.
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		for _, nd := range c.Nodes() {
			if nd.Stats().Snapshots < 3 {
				return fmt.Errorf("%s has written %d snapshots", nd.Name(), nd.Stats().Snapshots)
			}
		}
		return nil
	})
	for _, nd := range c.Nodes() {
		require.NoError(t, nd.Close()) // a crash: no Leave, no final snapshot
	}
	_, cs = start()
	waitCounters(t, cs, 600, 20*time.Second)
}

// A snapshot older than SnapshotMaxAge is refused: its slots might belong
// to replicas whose retirement records the cluster has forgotten.
func TestSnapshotTooOldIsRefused(t *testing.T) {
	dir := t.TempDir()
	n := durableNode(t, dir, nil)
	c, err := swarm.NewCounter(n, "requests")
	require.NoError(t, err)
	require.NoError(t, c.Add(5))
	require.NoError(t, n.Leave())

	for _, tc := range []struct {
		name    string
		age     time.Duration
		maxAge  time.Duration
		horizon time.Duration
		want    int64
	}{
		{"young enough", time.Hour, 0, 24 * time.Hour, 5},
		{"older than the horizon (the default max age)", 25 * time.Hour, 0, 24 * time.Hour, 0},
		{"older than SnapshotMaxAge", 2 * time.Hour, time.Hour, 24 * time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := swarm.DefaultLocalConfig("durable")
			cfg.StateDir, cfg.SnapshotMaxAge, cfg.RetireHorizon = dir, tc.maxAge, tc.horizon
			cfg.SnapshotInterval = time.Hour
			later := time.Now().Add(tc.age)
			cfg.Now = func() time.Time { return later }
			n, err := swarm.New(cfg)
			require.NoError(t, err)
			defer n.Close()
			c, err := swarm.NewCounter(n, "requests")
			require.NoError(t, err)
			v, err := c.Value()
			require.NoError(t, err)
			require.Equal(t, tc.want, v)
			if tc.want == 0 {
				require.Equal(t, uint64(1), n.Stats().Rejected["snapshot_too_old"])
			}
		})
	}
}
