package swarm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// A snapshot file is
//
//	magic "SHOALSNP" | format uint16 | codec version uint16 |
//	written at (Unix ns) int64 | incarnation uint64 | name length uint16 | name |
//	value count uint32 | per value: uvarint length, codec envelope (KindState) |
//	CRC-32C of everything before it, uint32
//
// all integers big-endian. Each envelope carries the value's name and type
// name, so a snapshot restores into the registrations of the next run and
// a type mismatch is refused like a peer's.
const (
	snapshotMagic  = "SHOALSNP"
	snapshotFormat = 1
	// snapshotHeader is the fixed part before the name.
	snapshotHeader = len(snapshotMagic) + 2 + 2 + 8 + 8 + 2
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrSnapshotVersion is returned by New when the snapshot in the store
	// was written by a newer build (a format or codec version this build
	// does not read). Run the newer build, or remove the snapshot to start
	// from what the cluster holds.
	ErrSnapshotVersion = errors.New("shoal/swarm: snapshot written by a newer version")
	// ErrSnapshotCorrupt is logged and counted (Stats.Rejected
	// "snapshot_corrupt") when a snapshot is torn, truncated or fails its
	// checksum; the node starts without it.
	ErrSnapshotCorrupt = errors.New("shoal/swarm: snapshot corrupt")
	// ErrSnapshotTooOld is logged and counted (Stats.Rejected
	// "snapshot_too_old") when a snapshot is older than
	// Config.SnapshotMaxAge; the node starts without it.
	ErrSnapshotTooOld = errors.New("shoal/swarm: snapshot too old")
)

const (
	rejectSnapshotCorrupt = "snapshot_corrupt"
	rejectSnapshotTooOld  = "snapshot_too_old"
)

// snapshot is a decoded snapshot file.
type snapshot struct {
	written time.Time
	from    crdt.Replica
	values  []codec.Envelope
}

// encodeSnapshot writes envs (encoded envelopes) in the snapshot format.
func encodeSnapshot(now time.Time, self crdt.Replica, envs [][]byte) []byte {
	size := snapshotHeader + len(self.Node) + 4 + 4
	for _, e := range envs {
		size += binary.MaxVarintLen64 + len(e)
	}
	b := make([]byte, 0, size)
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint16(b, snapshotFormat)
	b = binary.BigEndian.AppendUint16(b, codec.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(now.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, self.Incarnation)
	b = binary.BigEndian.AppendUint16(b, uint16(len(self.Node)))
	b = append(b, self.Node...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(envs)))
	for _, e := range envs {
		b = binary.AppendUvarint(b, uint64(len(e)))
		b = append(b, e...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32c))
}

// decodeSnapshot checks the framing and checksum of b and decodes every
// envelope with c (strict and bounded, as for a peer's message). Errors
// wrap ErrSnapshotCorrupt or ErrSnapshotVersion.
func decodeSnapshot(c *codec.Codec, b []byte) (snapshot, error) {
	var s snapshot
	corrupt := func(format string, args ...any) (snapshot, error) {
		return snapshot{}, fmt.Errorf("%w: %s", ErrSnapshotCorrupt, fmt.Sprintf(format, args...))
	}
	if len(b) < snapshotHeader+4+4 || !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		return corrupt("%d bytes, not a shoal snapshot", len(b))
	}
	format := binary.BigEndian.Uint16(b[8:])
	version := binary.BigEndian.Uint16(b[10:])
	if format > snapshotFormat || version > codec.Version {
		return snapshot{}, fmt.Errorf("%w: format %d, codec version %d; this build reads format %d, codec versions %v",
			ErrSnapshotVersion, format, version, snapshotFormat, codec.SupportedVersions())
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crc32c) != sum {
		return corrupt("checksum mismatch (torn or damaged file)")
	}
	s.written = time.Unix(0, int64(binary.BigEndian.Uint64(b[12:])))
	s.from.Incarnation = binary.BigEndian.Uint64(b[20:])
	nameLen := int(binary.BigEndian.Uint16(b[28:]))
	rest := body[snapshotHeader:]
	if len(rest) < nameLen+4 {
		return corrupt("truncated header")
	}
	s.from.Node, rest = string(rest[:nameLen]), rest[nameLen:]
	count, rest := binary.BigEndian.Uint32(rest), rest[4:]
	if uint64(count) > uint64(len(rest)) {
		return corrupt("%d values in %d bytes", count, len(rest))
	}
	s.values = make([]codec.Envelope, 0, count)
	for i := range count {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > uint64(len(rest)-n) {
			return corrupt("value %d: bad length", i)
		}
		env, err := c.DecodeEnvelope(rest[n : n+int(l)])
		if err != nil {
			return corrupt("value %d: %v", i, err)
		}
		if env.Kind != codec.KindState || env.Name == "" {
			return corrupt("value %d: kind %d name %q", i, env.Kind, env.Name)
		}
		s.values = append(s.values, env)
		rest = rest[n+int(l):]
	}
	if len(rest) != 0 {
		return corrupt("%d bytes after the last value", len(rest))
	}
	return s, nil
}

// loadSnapshot reads the store at New. A missing snapshot is no error; a
// corrupt or too old one is logged, counted and ignored; one from a newer
// version fails New.
func (n *Node) loadSnapshot() error {
	if n.store == nil {
		return nil
	}
	start := time.Now()
	b, err := n.store.Load()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		n.stats.reject(rejectSnapshotCorrupt)
		n.log.Error("snapshot unreadable; starting without it", "err", err)
		return nil
	}
	s, err := decodeSnapshot(n.codec, b)
	switch {
	case errors.Is(err, ErrSnapshotVersion):
		return err
	case err != nil:
		n.stats.reject(rejectSnapshotCorrupt)
		n.log.Error("snapshot ignored; starting from what the cluster holds", "err", err, "bytes", len(b))
		return nil
	}
	maxAge := n.cfg.SnapshotMaxAge
	if maxAge == 0 {
		maxAge = n.cfg.RetireHorizon
	}
	if age := n.now().Sub(s.written); age > maxAge {
		n.stats.reject(rejectSnapshotTooOld)
		n.log.Error("snapshot ignored", "err", ErrSnapshotTooOld, "written", s.written, "age", age, "max", maxAge)
		return nil
	}
	n.restoredMu.Lock()
	for i := range s.values {
		n.restored[s.values[i].Name] = s.values[i]
	}
	n.restoredMu.Unlock()
	n.log.Info("snapshot loaded", "values", len(s.values), "written", s.written, "by", s.from.String(),
		"bytes", len(b), "took", time.Since(start))
	return nil
}

// takeRestored returns the snapshot's state for name, once; the caller
// merges it into the value it registers.
func (n *Node) takeRestored(name string) (codec.Envelope, bool) {
	n.restoredMu.Lock()
	defer n.restoredMu.Unlock()
	env, ok := n.restored[name]
	if ok {
		delete(n.restored, name)
	}
	return env, ok
}

// saveSnapshot writes every value's full state, and what the last snapshot
// held for names not registered in this run, to the store. Each value is
// cloned under its lock and encoded outside it.
func (n *Node) saveSnapshot() error {
	if n.store == nil {
		return nil
	}
	entries := n.entries()
	envs := make([][]byte, 0, len(entries))
	var env codec.Envelope
	for _, e := range entries {
		e.mu.Lock()
		if e.gone.Load() {
			e.mu.Unlock()
			continue // unshared: not written
		}
		if e.prepare != nil {
			e.prepare()
		}
		w := e.a.clone()
		e.mu.Unlock()
		payload, err := e.a.encode(n.codec, nil, w)
		if err != nil {
			return fmt.Errorf("shoal/swarm: snapshot %q: %w", e.name, err)
		}
		// No Origin: the file's header names the writer once, and a full
		// state is not bound to one replica.
		env = codec.Envelope{Kind: codec.KindState, Name: e.name, Type: e.typeName, Payload: payload}
		b, err := n.codec.EncodeEnvelope(&env)
		if err != nil {
			return fmt.Errorf("shoal/swarm: snapshot %q: %w", e.name, err)
		}
		envs = append(envs, b)
	}
	n.restoredMu.Lock()
	for name := range n.restored {
		env := n.restored[name]
		if b, err := n.codec.EncodeEnvelope(&env); err == nil {
			envs = append(envs, b)
		}
	}
	n.restoredMu.Unlock()
	data := encodeSnapshot(n.now(), n.self, envs)
	if err := n.store.Save(data); err != nil {
		n.stats.snapshotErrors.Add(1)
		return err
	}
	n.stats.snapshots.Add(1)
	n.stats.snapshotBytes.Store(uint64(len(data)))
	return nil
}

// snapshotLoop saves a snapshot every SnapshotInterval.
func (n *Node) snapshotLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if err := n.saveSnapshot(); err != nil {
			n.warnLimited("snapshot", "snapshot failed", "err", err)
		}
	}
}
