package crdt

import (
	"cmp"
	"fmt"
	"time"
)

// Merge takes, for each key, the entry with the higher timestamp, except
// entries stamped more than the maximum skew ahead of now, which are
// refused and counted (SkewRejections). The effect holds the entries of
// other that won. Into a local state Merge costs O(len(other.E)·log n);
// into a wire state O(len(other.E)·log n) plus one pass over E when keys
// are new.
func (m *LWWMap[K, V]) Merge(now time.Time, other *LWWMap[K, V]) (effect *LWWMap[K, V], changed bool) {
	if other == nil || m == other {
		return nil, false
	}
	var eff, ins []LWWEntry[K, V]
	other.ascend(func(p *LWWEntry[K, V]) bool {
		o := *p
		if o.Deleted {
			var zero V
			o.Value = zero // keep tombstones canonical
		}
		if m.clock.refuse(now, o.TS) {
			return true // beyond the skew cap: never stored
		}
		if m.tree != nil {
			cur, found := m.tree.Get(lwwItem[K, V]{LWWEntry: o})
			if found && !o.TS.After(cur.TS) {
				return true
			}
			m.put(cur, found, o)
		} else {
			i, found := m.search(o.Key)
			if found {
				e := &m.E[i]
				if !o.TS.After(e.TS) {
					return true
				}
				if !e.Deleted {
					m.live--
				}
				*e = o
			} else {
				ins = append(ins, o)
			}
			if !o.Deleted {
				m.live++
			}
		}
		_ = m.clock.Observe(now, o.TS) // within the cap, checked above
		eff = append(eff, o)
		return true
	})
	if len(eff) == 0 {
		return nil, false
	}
	if len(ins) > 0 {
		m.E = insertSorted(m.E, ins, func(a, b LWWEntry[K, V]) int { return cmp.Compare(a.Key, b.Key) })
	}
	return m.wire(eff), true
}

// wire returns a wire state holding es (sorted, owned by the result) with
// the receiver's configuration, so that a state merged into it refuses
// and expires what the receiver would.
func (m *LWWMap[K, V]) wire(es []LWWEntry[K, V]) *LWWMap[K, V] {
	w := &LWWMap[K, V]{E: es, ttl: m.ttl, clock: Clock{maxSkew: m.clock.maxSkew}}
	for i := range es {
		if !es[i].Deleted {
			w.live++
		}
	}
	return w
}

// Delta returns the entries written locally since the last Delta that no
// remote write has replaced since.
func (m *LWWMap[K, V]) Delta() (delta *LWWMap[K, V], ok bool) {
	if len(m.dirty) == 0 {
		return nil, false
	}
	keys := sortedUnique(m.dirty)
	var out []LWWEntry[K, V]
	for _, k := range keys {
		if it, found := m.get(k); found && it.TS.Replica == m.clock.self {
			out = append(out, it.LWWEntry)
		}
	}
	clear(keys)
	m.dirty = keys[:0] // reuse the backing array: SetAt stays allocation-free
	if cap(keys) > 4096 {
		m.dirty = nil // a burst is over: give its memory back
	}
	if len(out) == 0 {
		return nil, false
	}
	return m.wire(out), true
}

// Clone returns a copy of all entries, tombstones included, as a wire
// state. It costs O(n).
func (m *LWWMap[K, V]) Clone() *LWWMap[K, V] {
	es := make([]LWWEntry[K, V], 0, m.entries())
	m.ascend(func(e *LWWEntry[K, V]) bool { es = append(es, *e); return true })
	return m.wire(es)
}

// Empty returns an empty wire state with the receiver's configuration.
func (m *LWWMap[K, V]) Empty() *LWWMap[K, V] { return m.wire(nil) }

// Validate checks a decoded state: keys strictly ascending, every entry
// written by a non-zero replica. Errors wrap ErrInvalidState. Timestamps
// too far in the future are not an error here: Merge refuses them, since
// only it knows the time.
func (m *LWWMap[K, V]) Validate() error {
	live, i := 0, 0
	var prev *LWWEntry[K, V]
	var err error
	m.ascend(func(e *LWWEntry[K, V]) bool {
		switch {
		case e.TS.Replica.IsZero():
			err = fmt.Errorf("lwwmap: %w: entry %d has no writer", ErrInvalidState, i)
		case e.TTL < 0:
			err = fmt.Errorf("lwwmap: %w: entry %d (%v) has a negative TTL", ErrInvalidState, i, e.Key)
		case prev != nil && cmp.Compare(prev.Key, e.Key) >= 0:
			err = fmt.Errorf("lwwmap: %w: entry %d (%v) is not after %v", ErrInvalidState, i, e.Key, prev.Key)
		}
		if !e.Deleted {
			live++
		}
		p := *e
		prev = &p
		i++
		return err == nil
	})
	if err != nil {
		return err
	}
	m.live = live
	return nil
}
