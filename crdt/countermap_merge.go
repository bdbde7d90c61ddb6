package crdt

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// ensureIndex builds the lookup maps of a state that has none (a wire
// state about to be merged into, as a relay's accumulation is).
func (m *PNCounterMap[K]) ensureIndex() {
	if m.rIndex == nil {
		m.rIndex = make(map[Replica]uint32, len(m.R))
		for i, r := range m.R {
			m.rIndex[r] = uint32(i)
		}
	}
	if m.idx == nil {
		m.idx = make(map[K]int32, len(m.E))
		for i := range m.E {
			m.idx[m.E[i].Key] = int32(i)
		}
	}
	if m.opts.MaxKeys <= 0 {
		m.opts.MaxKeys = DefaultCounterMapMaxKeys
	}
	if m.opts.MaxSkew <= 0 {
		m.opts.MaxSkew = DefaultMaxSkew
	}
}

// Merge folds other into m: per key, stamps, slots and floors by maximum.
// A key m does not hold is refused (and counted in Refused) when it has
// expired, is stamped beyond MaxSkew in the future, or would exceed
// MaxKeys. The effect holds, per changed key, the slots that grew, or the
// whole key when its floors grew (so that a relay's receiver sees floors
// with the slots they bound). Merge costs O(keys of other) map look-ups.
func (m *PNCounterMap[K]) Merge(now time.Time, other *PNCounterMap[K]) (effect *PNCounterMap[K], changed bool) {
	if other == nil || m == other || len(other.E) == 0 {
		return nil, false
	}
	m.ensureIndex()
	tr := make([]uint32, len(other.R))
	for j, r := range other.R {
		tr[j] = m.replica(r)
	}
	future := stampOf(now.Add(m.opts.MaxSkew))
	var eff []CounterMapEntry[K]
	for j := range other.E {
		o := &other.E[j]
		if o.Stamp > future {
			m.Refused++
			continue
		}
		i, ok := m.idx[o.Key]
		if !ok {
			if m.expired(o, now) || len(m.E) >= m.opts.MaxKeys {
				m.Refused++
				continue
			}
			i = m.appendKey(o.Key)
		}
		e := &m.E[i]
		part := CounterMapEntry[K]{Key: e.Key}
		grew := false
		if o.Stamp > e.Stamp {
			e.Stamp, grew = o.Stamp, true
		}
		floorsGrew := false
		for _, os := range o.Slots {
			s := slotFor(&e.Slots, tr[os.R&^FloorBit]|os.R&FloorBit)
			if os.P > s.P || os.N > s.N {
				s.P, s.N = max(s.P, os.P), max(s.N, os.N)
				if os.R&FloorBit != 0 {
					floorsGrew = true
				} else {
					part.Slots = append(part.Slots, *s)
				}
				grew = true
			}
		}
		if floorsGrew {
			part.Slots = slices.Clone(e.Slots)
		}
		if grew {
			part.Stamp = e.Stamp
			eff = append(eff, part)
		}
	}
	if len(eff) > 0 {
		effect = m.wire(eff) // before canonicalize: eff indexes m.R as it is now
	}
	if !m.local {
		m.canonicalize()
	}
	return effect, effect != nil
}

// Delta returns the keys written locally since the last Delta: for each,
// this replica's slot and the stamp, or the whole key if it was reset.
func (m *PNCounterMap[K]) Delta() (delta *PNCounterMap[K], ok bool) {
	if len(m.dirty) == 0 {
		return nil, false
	}
	parts := make([]CounterMapEntry[K], 0, len(m.dirty))
	own := make([]CounterMapSlot, 0, len(m.dirty)) // one array for every key's own slot
	for _, i := range m.dirty {
		e := &m.E[i]
		part := CounterMapEntry[K]{Key: e.Key, Stamp: e.Stamp}
		if m.kind[i] == 2 {
			part.Slots = slices.Clone(e.Slots)
		} else if k := slices.IndexFunc(e.Slots, func(s CounterMapSlot) bool { return s.R == m.selfR }); k >= 0 {
			own = append(own, e.Slots[k])
			part.Slots = own[len(own)-1 : len(own) : len(own)]
		}
		m.kind[i] = 0
		parts = append(parts, part)
	}
	m.dirty = m.dirty[:0]
	return m.wire(parts), true
}

// Clone returns the full state as a canonical wire state.
func (m *PNCounterMap[K]) Clone() *PNCounterMap[K] {
	parts := make([]CounterMapEntry[K], len(m.E))
	for i := range m.E {
		e := &m.E[i]
		parts[i] = CounterMapEntry[K]{Key: e.Key, Stamp: e.Stamp, Slots: slices.Clone(e.Slots)}
	}
	return m.wire(parts)
}

// Empty returns an empty wire state.
func (m *PNCounterMap[K]) Empty() *PNCounterMap[K] { return &PNCounterMap[K]{} }

// wire turns parts, whose slots index m.R, into a canonical wire state:
// R holds only the replicas the parts mention, sorted, and keys and slots
// are sorted. It takes ownership of parts.
func (m *PNCounterMap[K]) wire(parts []CounterMapEntry[K]) *PNCounterMap[K] {
	const unused = ^uint32(0)
	remap := make([]uint32, len(m.R))
	for i := range remap {
		remap[i] = unused
	}
	var locals []uint32
	for i := range parts {
		for _, s := range parts[i].Slots {
			if r := s.R &^ FloorBit; remap[r] == unused {
				remap[r] = 0
				locals = append(locals, r)
			}
		}
	}
	slices.SortFunc(locals, func(a, b uint32) int { return m.R[a].Compare(m.R[b]) })
	out := &PNCounterMap[K]{R: make([]Replica, len(locals)), E: parts}
	for w, l := range locals {
		out.R[w] = m.R[l]
		remap[l] = uint32(w)
	}
	bySlot := func(a, b CounterMapSlot) int { return cmp.Compare(a.R, b.R) }
	for i := range parts {
		sorted := true
		for k := range parts[i].Slots {
			r := parts[i].Slots[k].R
			parts[i].Slots[k].R = remap[r&^FloorBit] | r&FloorBit
			sorted = sorted && (k == 0 || parts[i].Slots[k-1].R < parts[i].Slots[k].R)
		}
		if !sorted {
			slices.SortFunc(parts[i].Slots, bySlot)
		}
	}
	slices.SortFunc(parts, func(a, b CounterMapEntry[K]) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// canonicalize restores a wire state's order after a merge into it.
func (m *PNCounterMap[K]) canonicalize() {
	w := m.wire(m.E)
	m.R, m.E = w.R, w.E
	m.rIndex, m.idx = nil, nil
}

// Validate checks a decoded wire state: replicas sorted, distinct and not
// zero; keys sorted and distinct; slots and floors with valid, increasing
// replica indices, no all-zero slot, counts at most CounterMapMaxCount,
// every floor at most its replica's slot in the same key (a delete can
// only reset what it saw), and stamps not negative. Errors wrap
// ErrInvalidState.
func (m *PNCounterMap[K]) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: countermap: %s", ErrInvalidState, fmt.Sprintf(format, args...))
	}
	for i, r := range m.R {
		if r.IsZero() {
			return bad("replica %d is the zero replica", i)
		}
		if i > 0 && m.R[i-1].Compare(r) >= 0 {
			return bad("replica %d (%s) is not after %s", i, r, m.R[i-1])
		}
	}
	checkSlots := func(key K, what string, slots []CounterMapSlot) error {
		for k, s := range slots {
			switch {
			case int(s.R&^FloorBit) >= len(m.R):
				return bad("key %v: %s %d names replica %d of %d", key, what, k, s.R&^FloorBit, len(m.R))
			case k > 0 && slots[k-1].R >= s.R:
				return bad("key %v: %s %d is not after %s %d", key, what, k, what, k-1)
			case s.P == 0 && s.N == 0:
				return bad("key %v: %s %d is zero", key, what, k)
			case s.P > CounterMapMaxCount || s.N > CounterMapMaxCount:
				return bad("key %v: %s %d exceeds %d", key, what, k, uint64(CounterMapMaxCount))
			}
		}
		return nil
	}
	for i := range m.E {
		e := &m.E[i]
		if i > 0 && cmp.Compare(m.E[i-1].Key, e.Key) >= 0 {
			return bad("key %d (%v) is not after %v", i, e.Key, m.E[i-1].Key)
		}
		if e.Stamp < 0 {
			return bad("key %v: negative stamp %d", e.Key, e.Stamp)
		}
		if err := checkSlots(e.Key, "slot", e.Slots); err != nil {
			return err
		}
		counts, floors := e.split()
		for _, f := range floors {
			r := f.R &^ FloorBit
			k, found := slices.BinarySearchFunc(counts, r, func(s CounterMapSlot, r uint32) int { return cmp.Compare(s.R, r) })
			if !found || f.P > counts[k].P || f.N > counts[k].N {
				return bad("key %v: the floor of replica %s is above its slot", e.Key, m.R[r])
			}
		}
	}
	return nil
}
