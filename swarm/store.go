package swarm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Store keeps a node's latest snapshot (Config.Store, or a FileStore in
// Config.StateDir). The node calls it from one goroutine at a time.
type Store interface {
	// Save replaces the stored snapshot with data, atomically: after a
	// crash at any point, Load returns either the previous snapshot or
	// data, never a mix. The store does not keep data after Save returns.
	Save(data []byte) error
	// Load returns the stored snapshot, or an error wrapping
	// fs.ErrNotExist when there is none. The caller owns the slice.
	Load() ([]byte, error)
}

// FileStore is a Store in a directory: one file, written to a temporary
// file, synced, renamed over the previous one, and the directory synced,
// so a crash or power loss leaves the old snapshot or the new one.
type FileStore struct {
	dir string
}

// snapshotFile is the file a FileStore keeps in its directory.
const snapshotFile = "shoal.snapshot"

// NewFileStore returns a FileStore in dir, creating the directory (0700)
// if needed. It fails if dir cannot be created or is not a directory.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("shoal/swarm: state directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("shoal/swarm: state directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("shoal/swarm: state directory %s is not a directory", dir)
	}
	return &FileStore{dir: dir}, nil
}

// Path returns the snapshot file's path.
func (s *FileStore) Path() string { return filepath.Join(s.dir, snapshotFile) }

// Save writes data atomically (temporary file, fsync, rename, directory
// fsync).
func (s *FileStore) Save(data []byte) (err error) {
	tmp, err := os.CreateTemp(s.dir, snapshotFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("shoal/swarm: snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("shoal/swarm: snapshot: write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("shoal/swarm: snapshot: sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("shoal/swarm: snapshot: close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), s.Path()); err != nil {
		return fmt.Errorf("shoal/swarm: snapshot: %w", err)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("shoal/swarm: snapshot: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return fmt.Errorf("shoal/swarm: snapshot: sync %s: %w", s.dir, err)
	}
	return nil
}

// Load reads the snapshot file.
func (s *FileStore) Load() ([]byte, error) {
	b, err := os.ReadFile(s.Path())
	if err != nil {
		return nil, fmt.Errorf("shoal/swarm: snapshot: %w", err)
	}
	return b, nil
}
