package crdt

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// wireKey is one key of a wire state being written or read; the events'
// Rep indexes a replica table (the local one while writing).
type wireKey struct {
	hash   KeyHash
	events []KeyEvent
}

func cmpEvent(a, b KeyEvent) int {
	if c := cmp.Compare(a.Tick, b.Tick); c != 0 {
		return c
	}
	return cmp.Compare(a.Rep, b.Rep)
}

// writeWire fills dst's wire fields from keys, whose events name rows of
// table: the replicas used, sorted; the keys, sorted by hash if sorted
// (a canonical form: full states), else in the order given (deltas and
// effects, written once per flush: sorting them would cost more than
// deciding); the events re-indexed and sorted; ticks coded from the
// smallest. keys may be sorted in place; the events are not modified.
func writeWire(dst *KeyedWindow, table []replicaSlot, keys []wireKey, sorted bool) {
	dst.Replicas, dst.Base, dst.Hashes, dst.Log = nil, 0, nil, nil
	if len(keys) == 0 {
		return
	}
	// Replicas used, and the smallest tick.
	remap := make([]int32, len(table))
	for i := range remap {
		remap[i] = -1
	}
	base := int64(math.MaxInt64)
	var used []uint16
	for _, wk := range keys {
		for _, x := range wk.events {
			if remap[x.Rep] < 0 {
				remap[x.Rep] = 0
				used = append(used, x.Rep)
			}
			base = min(base, x.Tick)
		}
	}
	slices.SortFunc(used, func(a, b uint16) int { return table[a].r.Compare(table[b].r) })
	dst.Replicas = make([]Replica, len(used))
	for i, r := range used {
		remap[r] = int32(i)
		dst.Replicas[i] = table[r].r
	}
	dst.Base = base
	if sorted {
		slices.SortFunc(keys, func(a, b wireKey) int { return bytes.Compare(a.hash[:], b.hash[:]) })
	}
	dst.Hashes = make([]byte, 0, len(keys)*len(KeyHash{}))
	buf := make([]byte, 0, len(keys)*8)
	var tmp []KeyEvent
	for _, wk := range keys {
		dst.Hashes = append(dst.Hashes, wk.hash[:]...)
		ev, reindexed := wk.events, false
		// Re-indexing can reorder events of one tick: sort a copy then.
		for i := 1; i < len(ev); i++ {
			if ev[i].Tick == ev[i-1].Tick && remap[ev[i].Rep] < remap[ev[i-1].Rep] {
				tmp = append(tmp[:0], ev...)
				for j := range tmp {
					tmp[j].Rep = uint16(remap[tmp[j].Rep])
				}
				slices.SortFunc(tmp, cmpEvent)
				ev, reindexed = tmp, true
				break
			}
		}
		buf = binary.AppendUvarint(buf, uint64(len(ev)))
		prev := base
		for _, x := range ev {
			rep := uint64(x.Rep)
			if !reindexed {
				rep = uint64(remap[x.Rep])
			}
			buf = binary.AppendUvarint(buf, rep)
			buf = binary.AppendUvarint(buf, uint64(x.Tick-prev))
			buf = binary.AppendUvarint(buf, uint64(x.N))
			prev = x.Tick
		}
	}
	dst.Log = buf
}

// readWire calls fn for each key of a wire state with its events (Rep
// indexes k.Replicas), decoding into buf; the events are valid until fn
// returns. It stops at the first malformed byte and returns an error
// describing it; an error from fn stops it and is returned.
func (k *KeyedWindow) readWire(buf []KeyEvent, fn func(h KeyHash, events []KeyEvent) error) ([]KeyEvent, error) {
	if len(k.Hashes)%len(KeyHash{}) != 0 {
		return buf, fmt.Errorf("hashes are %d bytes, not a multiple of %d", len(k.Hashes), len(KeyHash{}))
	}
	nkeys := len(k.Hashes) / len(KeyHash{})
	p := k.Log
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	for i := range nkeys {
		var h KeyHash
		copy(h[:], k.Hashes[i*len(h):])
		m, ok := next()
		if !ok || m == 0 || m > uint64(len(p)) {
			return buf, fmt.Errorf("key %d: bad event count", i)
		}
		buf = buf[:0]
		tick := k.Base
		for j := range m {
			rep, ok1 := next()
			dt, ok2 := next()
			n, ok3 := next()
			if !ok1 || !ok2 || !ok3 {
				return buf, fmt.Errorf("key %d event %d: truncated", i, j)
			}
			if dt > math.MaxInt64 || tick > math.MaxInt64-int64(dt) {
				return buf, fmt.Errorf("key %d event %d: tick overflows", i, j)
			}
			tick += int64(dt)
			if rep >= uint64(len(k.Replicas)) || n == 0 || n > MaxKeyedCount {
				return buf, fmt.Errorf("key %d event %d: replica %d of %d, count %d (1..%d)", i, j, rep, len(k.Replicas), n, MaxKeyedCount)
			}
			x := KeyEvent{Tick: tick, N: uint32(n), Rep: uint16(rep)}
			if j > 0 && cmpEvent(buf[j-1], x) >= 0 {
				return buf, fmt.Errorf("key %d event %d: out of order", i, j)
			}
			buf = append(buf, x)
		}
		if err := fn(h, buf); err != nil {
			return buf, err
		}
	}
	if len(p) != 0 {
		return buf, fmt.Errorf("%d bytes after the last event", len(p))
	}
	return buf, nil
}

// Validate checks a decoded state: the configuration of the Empty it was
// decoded into (else ErrConfigMismatch); at most MaxKeyedReplicas
// replicas, sorted, none zero; at most MaxKeyedKeys key hashes; every key with events in (tick, replica) order naming a
// listed replica, counts in 1..MaxKeyedCount, ticks that neither overflow
// nor reach times past the year 2262 (else ErrInvalidState). Keys need
// not be sorted or unique (a key twice merges as once). It costs O(size)
// and allocates one buffer of a key's events.
func (k *KeyedWindow) Validate() error {
	if k.wantTicks != 0 && (k.WindowLen != k.wantWindow || k.Ticks != k.wantTicks) {
		return fmt.Errorf("keyedwindow: %w: state has window %v in %d ticks, want %v in %d",
			ErrConfigMismatch, k.WindowLen, k.Ticks, k.wantWindow, k.wantTicks)
	}
	if err := checkKeyedConfig(k.WindowLen, k.Ticks); err != nil {
		return fmt.Errorf("keyedwindow: %w: %w", ErrInvalidState, err)
	}
	width := int64(k.WindowLen) / int64(k.Ticks)
	if len(k.Replicas) > MaxKeyedReplicas {
		return fmt.Errorf("keyedwindow: %w: %d replicas, at most %d", ErrInvalidState, len(k.Replicas), MaxKeyedReplicas)
	}
	for i, r := range k.Replicas {
		if r.IsZero() || (i > 0 && k.Replicas[i-1].Compare(r) >= 0) {
			return fmt.Errorf("keyedwindow: %w: replica %d (%s) is zero or out of order", ErrInvalidState, i, r)
		}
	}
	if n := len(k.Hashes) / len(KeyHash{}); n > MaxKeyedKeys {
		return fmt.Errorf("keyedwindow: %w: %d keys, at most %d", ErrInvalidState, n, MaxKeyedKeys)
	}
	minTick, maxTick := math.MinInt64/width, math.MaxInt64/width-1
	_, err := k.readWire(nil, func(h KeyHash, events []KeyEvent) error {
		if events[0].Tick < minTick || events[len(events)-1].Tick > maxTick {
			return fmt.Errorf("key %x has ticks out of range", h)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keyedwindow: %w: %w", ErrInvalidState, err)
	}
	k.width = width
	return nil
}

var _ Bounded[*KeyedWindow] = (*KeyedWindow)(nil)

// Check implements Bounded: a message bound to origin (a delta) may name
// no replica but origin (ErrForeignWrite); every count is within
// b.MaxCount and, for a delta, raises the receiver's count of its (key,
// tick) by at most b.MaxStep; the replicas the merge would add keep the
// receiver within b.MaxReplicas. It costs O(events of other · log events
// per key) and allocates nothing.
func (k *KeyedWindow) Check(other *KeyedWindow, origin Replica, b Bounds) error {
	if other == nil {
		return nil
	}
	if other.index != nil { // a local state given as other
		other = other.Clone()
	}
	bound := !origin.IsZero()
	added := 0
	for _, r := range other.Replicas {
		if bound && r != origin {
			return outOfBounds(ErrForeignWrite, "events of %s in a message from %s", r, origin)
		}
		if _, ok := k.repOf[r]; !ok {
			added++
		}
	}
	_, err := other.readWire(nil, func(h KeyHash, events []KeyEvent) error {
		var mine []KeyEvent
		if e := k.index[h]; e != nil {
			mine = e.events
		}
		for _, x := range events {
			r := other.Replicas[x.Rep]
			var held uint64 // a (key, tick) the receiver lacks counts from 0, as a window bucket
			if local, ok := k.repOf[r]; ok && len(mine) > 0 {
				y := KeyEvent{Tick: x.Tick, Rep: local}
				if i, ok := slices.BinarySearchFunc(mine, y, cmpEvent); ok {
					held = uint64(mine[i].N)
				}
			}
			if err := checkCount(r, uint64(x.N), held, true, bound, b); err != nil {
				return fmt.Errorf("key %x tick %d: %w", h, x.Tick, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return checkReplicas(len(k.repOf), added, b)
}

// Sanitize implements Bounded: it drops local events above b.MaxCount.
// No event can be: AddAt caps counts at MaxKeyedCount and Validate refuses
// more, so with b.MaxCount at least that (the default is far above) it
// returns 0 at once, without walking the keys under the caller's lock.
func (k *KeyedWindow) Sanitize(b Bounds) int {
	if b.MaxCount == 0 || b.MaxCount >= MaxKeyedCount || k.index == nil {
		return 0
	}
	dropped := 0
	for i := 0; i < len(k.keys); {
		e := k.keys[i]
		kept := e.events[:0]
		for _, x := range e.events {
			if uint64(x.N) > b.MaxCount {
				k.unref(e, []KeyEvent{x})
				dropped++
				continue
			}
			kept = append(kept, x)
		}
		e.events = kept
		if len(kept) == 0 {
			k.drop(e) // the last key moved to i
			continue
		}
		i++
	}
	return dropped
}

func (k *KeyedWindow) tickWidth() int64 {
	if k.width > 0 {
		return k.width
	}
	if checkKeyedConfig(k.WindowLen, k.Ticks) != nil {
		return 0
	}
	return int64(k.WindowLen) / int64(k.Ticks)
}

// Merge takes, per (key, replica, tick), the larger count. Events that
// left the window of now are ignored; events more than a window ahead of
// now, and events of a replica the local table has no room for, are
// refused and counted (Rejected). The effect holds the events of other
// that raised the receiver. A state with another configuration is
// ignored. Merge costs O(events of other × log events per key).
func (k *KeyedWindow) Merge(now time.Time, other *KeyedWindow) (effect *KeyedWindow, changed bool) {
	if other == nil || k == other || other.WindowLen != k.WindowLen || other.Ticks != k.Ticks {
		return nil, false
	}
	width := k.tickWidth()
	if width == 0 {
		return nil, false
	}
	if other.index != nil { // a local state given as other
		other = other.Clone()
	}
	if k.index == nil {
		// A wire state (the outbox accumulates deltas in one): merge into
		// a local copy, then write it back.
		local := k.local()
		effect, changed = local.Merge(now, other)
		writeWire(k, local.reps, local.allKeys(), true)
		k.rejected += local.rejected
		return effect, changed
	}
	lo := now.UnixNano() - int64(k.WindowLen)
	hi := floorDiv(now.UnixNano()+int64(k.WindowLen), width)
	mapped := make([]int32, len(other.Replicas))
	for i := range mapped {
		mapped[i] = -1
	}
	var effKeys []wireKey
	var arena []KeyEvent
	_, _ = other.readWire(nil, func(h KeyHash, events []KeyEvent) error {
		var e *keyEntry
		from := len(arena)
		for _, x := range events {
			if (x.Tick+1)*width <= lo {
				continue // left the window
			}
			if x.Tick > hi {
				k.rejected++
				continue
			}
			if mapped[x.Rep] < 0 {
				r, ok := k.replicaIndex(other.Replicas[x.Rep])
				if !ok {
					k.rejected++
					continue
				}
				mapped[x.Rep] = int32(r)
			}
			x.Rep = uint16(mapped[x.Rep])
			if e == nil {
				e = k.entry(h)
			}
			i, found := slices.BinarySearchFunc(e.events, x, cmpEvent)
			switch {
			case found && e.events[i].N >= x.N:
				continue
			case found:
				e.total += uint64(x.N - e.events[i].N)
				e.events[i].N = x.N
			default:
				e.events = slices.Insert(e.events, i, x)
				e.total += uint64(x.N)
				k.reps[x.Rep].refs++
			}
			arena = append(arena, x)
		}
		if len(arena) > from {
			effKeys = append(effKeys, wireKey{hash: h, events: arena[from:len(arena):len(arena)]})
		}
		return nil
	})
	if len(effKeys) == 0 {
		return nil, false
	}
	effect = k.Empty()
	writeWire(effect, k.reps, effKeys, false)
	return effect, true
}

// local returns a local state without an owner holding a wire state's
// events.
func (k *KeyedWindow) local() *KeyedWindow {
	l := &KeyedWindow{
		WindowLen: k.WindowLen, Ticks: k.Ticks,
		wantWindow: k.WindowLen, wantTicks: k.Ticks, width: k.tickWidth(),
		index: make(map[KeyHash]*keyEntry, k.Len()), repOf: make(map[Replica]uint16, len(k.Replicas)),
	}
	for i, r := range k.Replicas { // the wire indices are the rows
		l.reps = append(l.reps, replicaSlot{r: r})
		l.repOf[r] = uint16(i)
	}
	_, _ = k.readWire(nil, func(h KeyHash, events []KeyEvent) error {
		e := l.entry(h)
		e.events = slices.Clone(events)
		for _, x := range e.events {
			l.reps[x.Rep].refs++
			e.total += uint64(x.N)
		}
		return nil
	})
	return l
}

// allKeys returns every key of a local state, its events shared.
func (k *KeyedWindow) allKeys() []wireKey {
	out := make([]wireKey, 0, len(k.keys))
	for _, e := range k.keys {
		if len(e.events) > 0 {
			out = append(out, wireKey{hash: e.hash, events: e.events})
		}
	}
	return out
}

// Delta returns, for every key counted locally since the last Delta, the
// owner's events changed since then. Its cost is O(keys changed); it
// allocates the wire state's buffers only.
func (k *KeyedWindow) Delta() (delta *KeyedWindow, ok bool) {
	if len(k.dirty) == 0 {
		return nil, false
	}
	keys := k.scratch[:0]
	for _, e := range k.dirty {
		e.dirty, e.unsent = false, 0
		i, _ := slices.BinarySearchFunc(e.events, e.dirtyFrom, func(x KeyEvent, t int64) int { return cmp.Compare(x.Tick, t) })
		tail := e.events[i:]
		own := tail
		for j, x := range tail {
			if x.Rep != 0 { // a peer's event among ours: copy ours out
				own = slices.Clone(tail[:j])
				for _, y := range tail[j:] {
					if y.Rep == 0 {
						own = append(own, y)
					}
				}
				break
			}
		}
		if len(own) > 0 {
			keys = append(keys, wireKey{hash: e.hash, events: own})
		}
	}
	clear(k.dirty)
	k.dirty = k.dirty[:0]
	if len(keys) == 0 {
		k.scratch = keys
		return nil, false
	}
	d := k.Empty()
	writeWire(d, k.reps, keys, false)
	clear(keys)
	k.scratch = keys[:0]
	return d, true
}

// Clone returns a deep copy of the state as a wire state.
func (k *KeyedWindow) Clone() *KeyedWindow {
	c := k.Empty()
	if k.index != nil {
		writeWire(c, k.reps, k.allKeys(), true)
		return c
	}
	c.Replicas = slices.Clone(k.Replicas)
	c.Base = k.Base
	c.Hashes = slices.Clone(k.Hashes)
	c.Log = slices.Clone(k.Log)
	return c
}

// Empty returns an empty wire state with the same configuration.
func (k *KeyedWindow) Empty() *KeyedWindow {
	return &KeyedWindow{
		WindowLen:  k.WindowLen,
		Ticks:      k.Ticks,
		wantWindow: k.WindowLen,
		wantTicks:  k.Ticks,
		width:      k.tickWidth(),
	}
}
