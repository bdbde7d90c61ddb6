package crdt

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// KeyHash names one key of a KeyedWindow. The window never sees the
// caller's keys: a rate limiter passes a 128-bit keyed hash of each, so
// keys travel and show only as hashes.
type KeyHash [16]byte

// Bounds a KeyedWindow enforces on what it accepts from peers (Validate
// and Merge). They exist so that no peer input can overflow a sum or make
// the state grow without bound; see Validate.
const (
	// MaxKeyedTicks bounds the ticks per window.
	MaxKeyedTicks = 1_000_000
	// MaxKeyedReplicas bounds the replicas one state names, and the
	// replicas a local state holds events of at once.
	MaxKeyedReplicas = 4096
	// MaxKeyedKeys bounds the keys of one wire state.
	MaxKeyedKeys = 1 << 20
	// MaxKeyedCount bounds one event's count (one replica, one key, one
	// tick): far above any limit, far below overflow.
	MaxKeyedCount = 1 << 24
)

// KeyEvent is one replica's count of one key at one tick. Rep indexes the
// replica table of the state it came from (see KeyedWindow.Replica).
type KeyEvent struct {
	Tick int64
	N    uint32
	Rep  uint16
}

// End returns when the event leaves a window of length w, in Unix
// nanoseconds, for ticks of width ns: the end of its tick plus w.
func (e KeyEvent) End(width, w int64) int64 { return (e.Tick+1)*width + w }

// keyEntry is one key of a local state.
type keyEntry struct {
	hash   KeyHash
	events []KeyEvent // sorted by (Tick, Rep), one per (Tick, Rep)
	total  uint64     // Σ N of events
	pos    int32      // index in KeyedWindow.keys
	dirty  bool
	// dirtyFrom is the oldest own tick changed since the last Delta.
	dirtyFrom int64
	// unsent is what AddAt counted since the last Delta.
	unsent uint64
}

// replicaSlot is one row of a local state's replica table.
type replicaSlot struct {
	r      Replica
	refs   int  // events that name it; a row with none is reused
	before bool // r sorts before the owner
}

// KeyedWindow counts events per key in a sliding window, for a keyed rate
// limiter: one value for every key, so thousands of keys travel as one
// delta per flush instead of one value each.
//
// Each key holds a log of events (replica, tick, count), a tick being
// W/Ticks of time: with fine ticks and small limits every admission is its
// own event, an exact sliding log; with coarse ticks and large limits
// events of one replica in one tick add up, as buckets do. Merge takes the
// per-(key, replica, tick) maximum, so the state is a CRDT (a
// WindowCounter per key); events leave once their tick has ended more
// than W ago, and a key with none left disappears.
//
// Replicas are named once per state and referred to by index; a local
// state keeps its keys in a map of entries plus a slice that Expire walks
// a chunk at a time. A wire state (Delta, Clone, Merge's effect, a decoded
// state) holds its keys in the exported fields in a compact form: key
// hashes, sorted, and per key its events as varints, ticks delta-coded.
//
// The zero value is unusable; use NewKeyedWindow. Not safe for concurrent
// use; the caller serialises access.
type KeyedWindow struct {
	WindowLen time.Duration `cbor:"1,keyasint"`
	Ticks     int           `cbor:"2,keyasint"`
	// Replicas are the replicas the events name, sorted.
	Replicas []Replica `cbor:"3,keyasint,omitempty"`
	// Base is the smallest tick of the events; ticks are coded from it.
	Base int64 `cbor:"4,keyasint,omitempty"`
	// Hashes holds the keys' hashes, 16 bytes each (sorted in full
	// states).
	Hashes []byte `cbor:"5,keyasint,omitempty"`
	// Log holds per key, in Hashes order: the number of events m, then
	// m × (replica index, tick − previous tick (the first: − Base), count),
	// all unsigned varints, events sorted by (tick, replica).
	Log []byte `cbor:"6,keyasint,omitempty"`

	self       Replica
	wantWindow time.Duration
	wantTicks  int
	width      int64

	// Local state only (nil in wire states).
	index map[KeyHash]*keyEntry
	keys  []*keyEntry // Expire's walk order; keyEntry.pos is the index
	reps  []replicaSlot
	repOf map[Replica]uint16
	dirty []*keyEntry
	// cursor is where the next Expire chunk starts.
	cursor int
	// rejected counts peer events Merge refused (see Rejected).
	rejected uint64

	// scratch for Delta, reused across calls.
	scratch []wireKey
}

var _ Value[*KeyedWindow] = (*KeyedWindow)(nil)

// NewKeyedWindow returns an empty keyed window owned by self, of length
// window in ticks of window/ticks (rounded down to whole nanoseconds). It
// fails with ErrInvalidConfig unless window is positive, ticks is in
// 1..MaxKeyedTicks, and a tick is at least a nanosecond.
func NewKeyedWindow(self Replica, window time.Duration, ticks int) (*KeyedWindow, error) {
	if err := checkKeyedConfig(window, ticks); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	k := &KeyedWindow{
		WindowLen:  window,
		Ticks:      ticks,
		self:       self,
		wantWindow: window,
		wantTicks:  ticks,
		width:      int64(window) / int64(ticks),
		index:      make(map[KeyHash]*keyEntry),
		repOf:      make(map[Replica]uint16),
	}
	if !self.IsZero() {
		k.replicaIndex(self) // self is row 0
	}
	return k, nil
}

func checkKeyedConfig(window time.Duration, ticks int) error {
	switch {
	case window <= 0:
		return fmt.Errorf("window %v is not positive", window)
	case ticks < 1 || ticks > MaxKeyedTicks:
		return fmt.Errorf("tick count %d is not in 1..%d", ticks, MaxKeyedTicks)
	case int64(window)/int64(ticks) < 1:
		return fmt.Errorf("window %v is shorter than %d ticks of 1 ns", window, ticks)
	}
	return nil
}

// Window returns the window length W.
func (k *KeyedWindow) Window() time.Duration { return k.WindowLen }

// TickWidth returns the width of a tick in nanoseconds.
func (k *KeyedWindow) TickWidth() int64 { return k.width }

// Len returns the number of keys held.
func (k *KeyedWindow) Len() int {
	if k.index == nil {
		return len(k.Hashes) / len(KeyHash{})
	}
	return len(k.index)
}

// Rejected returns how many events from peers Merge refused since the
// state was made: ticks more than a window ahead of its clock, and events
// of replicas beyond MaxKeyedReplicas.
func (k *KeyedWindow) Rejected() uint64 { return k.rejected }

// Self returns the index of the owner in the replica table (0), and false
// for a state with no owner.
func (k *KeyedWindow) Self() (uint16, bool) { return 0, !k.self.IsZero() && k.index != nil }

// Replica returns the replica of a local state's table row i.
func (k *KeyedWindow) Replica(i uint16) Replica {
	if int(i) < len(k.reps) {
		return k.reps[i].r
	}
	return Replica{}
}

// BeforeSelf reports whether the replica of table row i sorts before the
// owner (Replica.Compare): a rank every node computes alike, which a rate
// limiter uses to split a remainder among the nodes competing for a key.
func (k *KeyedWindow) BeforeSelf(i uint16) bool {
	return int(i) < len(k.reps) && k.reps[i].before
}

// Events returns key's events, sorted by (Tick, Rep), or nil. The slice is
// the state's own: the caller must not modify or keep it past the next
// call on k. It allocates nothing.
func (k *KeyedWindow) Events(key KeyHash) []KeyEvent {
	if e := k.index[key]; e != nil {
		return e.events
	}
	return nil
}

// Total returns the sum of key's events' counts: a rate limiter subtracts
// those that left the window (few, at the front) instead of adding up the
// ones inside.
func (k *KeyedWindow) Total(key KeyHash) uint64 {
	if e := k.index[key]; e != nil {
		return e.total
	}
	return 0
}

// Unsent returns how many events of key this replica counted since the
// last Delta: what no peer can know of yet.
func (k *KeyedWindow) Unsent(key KeyHash) uint64 {
	if e := k.index[key]; e != nil {
		return e.unsent
	}
	return 0
}

// replicaIndex returns r's row, adding it (reusing a free row) if new; ok
// is false when the table is full.
func (k *KeyedWindow) replicaIndex(r Replica) (uint16, bool) {
	if i, ok := k.repOf[r]; ok {
		return i, true
	}
	for i := range k.reps {
		if i > 0 && k.reps[i].refs == 0 {
			delete(k.repOf, k.reps[i].r)
			k.reps[i].r, k.reps[i].before = r, r.Compare(k.self) < 0
			k.repOf[r] = uint16(i)
			return uint16(i), true
		}
	}
	if len(k.reps) >= MaxKeyedReplicas {
		return 0, false
	}
	k.reps = append(k.reps, replicaSlot{r: r, before: r.Compare(k.self) < 0})
	k.repOf[r] = uint16(len(k.reps) - 1)
	return uint16(len(k.reps) - 1), true
}

// entry returns key's entry, creating it.
func (k *KeyedWindow) entry(key KeyHash) *keyEntry {
	e := k.index[key]
	if e == nil {
		e = &keyEntry{hash: key, pos: int32(len(k.keys))}
		k.index[key] = e
		k.keys = append(k.keys, e)
	}
	return e
}

// AddAt counts n events of key at now in the owner's log. It allocates
// only for a new key or while a key's log grows.
func (k *KeyedWindow) AddAt(now time.Time, key KeyHash, n uint64) {
	if n == 0 || k.index == nil || k.self.IsZero() {
		return
	}
	n = min(n, MaxKeyedCount)
	ns := now.UnixNano()
	tick := floorDiv(ns, k.width)
	e := k.entry(key)
	ev := e.events
	if l := len(ev); l > 0 && ev[l-1].End(k.width, int64(k.WindowLen)) <= ns {
		// Every event has left the window: start over in place.
		k.unref(e, ev)
		ev = ev[:0]
	}
	// The newest own event is usually last, or near it.
	i := len(ev)
	for i > 0 && ev[i-1].Tick > tick {
		i--
	}
	j := i
	for j > 0 && ev[j-1].Tick == tick {
		j--
	}
	// ev[j:i] are the events at tick, by Rep: self (0) would be first.
	if j < i && ev[j].Rep == 0 {
		was := ev[j].N
		ev[j].N = uint32(min(uint64(was)+n, MaxKeyedCount))
		e.total += uint64(ev[j].N - was)
		e.events = ev
	} else {
		e.events = slices.Insert(ev, j, KeyEvent{Tick: tick, N: uint32(n), Rep: 0})
		e.total += n
		k.reps[0].refs++
	}
	e.unsent = satAdd(e.unsent, n)
	if !e.dirty {
		e.dirty, e.dirtyFrom = true, tick
		k.dirty = append(k.dirty, e)
	} else if tick < e.dirtyFrom {
		e.dirtyFrom = tick
	}
}

// unref forgets events of e that are being removed.
func (k *KeyedWindow) unref(e *keyEntry, events []KeyEvent) {
	for _, x := range events {
		k.reps[x.Rep].refs--
		e.total -= uint64(x.N)
	}
}

// Expire drops, in up to budget keys from where the previous call
// stopped, the events that left the window of now (and those more than a
// window ahead of it), and the keys left with none. It reports how many
// keys it dropped and whether it reached the end of the keys (the next
// call starts again from the first). A full pass therefore takes
// ⌈Len/budget⌉ calls, each O(budget): call it with the lock released in
// between, so that no call holds the caller's lock for long.
func (k *KeyedWindow) Expire(now time.Time, budget int) (dropped int, wrapped bool) {
	if k.index == nil {
		return 0, true
	}
	lo := now.UnixNano() - int64(k.WindowLen)
	hi := floorDiv(now.UnixNano()+int64(k.WindowLen), k.width)
	for range budget {
		if k.cursor >= len(k.keys) {
			k.cursor = 0
			return dropped, true
		}
		e := k.keys[k.cursor]
		if !k.trim(e, lo, hi) {
			k.drop(e)
			dropped++
			continue // the last key moved to the cursor
		}
		k.cursor++
	}
	if k.cursor >= len(k.keys) {
		k.cursor = 0
		return dropped, true
	}
	return dropped, false
}

// trim keeps e's events that end after lo and start by tick hi; it
// reports whether any is left.
func (k *KeyedWindow) trim(e *keyEntry, lo, hi int64) bool {
	ev := e.events
	i := 0
	for i < len(ev) && (ev[i].Tick+1)*k.width <= lo {
		i++
	}
	j := len(ev)
	for j > i && ev[j-1].Tick > hi {
		j--
	}
	if i > 0 || j < len(ev) {
		k.unref(e, ev[:i])
		k.unref(e, ev[j:])
		e.events = append(ev[:0], ev[i:j]...)
	}
	return len(e.events) > 0
}

// drop removes e: swapped with the last key in the walk order.
func (k *KeyedWindow) drop(e *keyEntry) {
	k.unref(e, e.events)
	delete(k.index, e.hash)
	last := k.keys[len(k.keys)-1]
	k.keys[e.pos] = last
	last.pos = e.pos
	k.keys[len(k.keys)-1] = nil
	k.keys = k.keys[:len(k.keys)-1]
	if e.dirty {
		e.dirty = false
		k.dirty = slices.DeleteFunc(k.dirty, func(x *keyEntry) bool { return x == e })
	}
}

// Evict removes up to n keys locally, looking at up to budget keys from
// where Expire and Evict stopped and removing those whose newest event is
// oldest among them: approximately the least recently counted keys, in
// O(budget log budget). It returns how many it removed. Like
// LWWMap.Purge it is local only: peers keep the keys, and a later merge
// may bring them back. A keyed rate limiter uses it to bound memory.
func (k *KeyedWindow) Evict(n, budget int) int {
	if k.index == nil || n <= 0 || len(k.keys) == 0 {
		return 0
	}
	budget = min(budget, len(k.keys))
	if k.cursor+budget > len(k.keys) {
		k.cursor = 0
	}
	chunk := slices.Clone(k.keys[k.cursor : k.cursor+budget])
	newest := func(e *keyEntry) int64 {
		if len(e.events) == 0 {
			return math.MinInt64
		}
		return e.events[len(e.events)-1].Tick
	}
	slices.SortFunc(chunk, func(a, b *keyEntry) int { return cmpInt64(newest(a), newest(b)) })
	n = min(n, len(chunk))
	for _, e := range chunk[:n] {
		k.drop(e)
	}
	k.cursor += budget - n
	return n
}
