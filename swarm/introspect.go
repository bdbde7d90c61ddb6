package swarm

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shoal-go/shoal/crdt"
)

// This file lets tools look inside a node's values without knowing their
// types: debug pages, metrics, shell commands. It is a read-only view, made
// under each value's lock, and describes at most what it shows: a map's
// first 200 entries in key order, whatever its size, so the lock that
// memberlist's callbacks need is held for about 0.1 ms even at 200,000
// keys (BenchmarkDescribeLargeMap), and formatting costs about 41 µs and
// 440 allocations for 10 counters and a map of 100 keys (BenchmarkValues).
// Use it for people and dashboards, not on a hot path.

// maxInfoEntries bounds the entries ValueInfo lists for one value, so a
// map of a million keys does not make a debug page of a million rows.
const maxInfoEntries = 200

// maxInfoText bounds a rendered value or key.
const maxInfoText = 200

// ValueInfo describes one shared value as this node holds it; see
// Node.Values.
type ValueInfo struct {
	// Name is the value's name (classic keys carry the "classic/" prefix).
	Name string
	// Type is the CRDT's Go type, for example "*crdt.PNCounter".
	Type string
	// Value is the merged value rendered for people: "1234", "3 keys",
	// "57.2 in the 10s window".
	Value string
	// Replicas is each replica's share of the value, sorted by replica:
	// counter slots, window counts, the keys each replica wrote last (for
	// maps and sets, counted over the entries shown: the description never
	// scans past what it shows).
	Replicas []ReplicaInfo
	// Entries lists the keys of a map (tombstones included), the elements
	// of a set, the value of a register or of each classic node: at most
	// 200, in key order.
	Entries []EntryInfo
	// MoreEntries counts the entries left out of Entries.
	MoreEntries int
}

// ReplicaInfo is one replica's share of a value.
type ReplicaInfo struct {
	Replica crdt.Replica
	// Contribution is the share rendered for people.
	Contribution string
	// Count is the share as a number for counters and windows, and the
	// number of live entries the replica wrote last for maps, registers,
	// sets and classic values.
	Count float64
	// Updated is when the replica last changed the value, as far as the
	// value records time: the newest timestamp of its writes (maps,
	// registers) or the start of its newest bucket (windows). Zero for
	// types that keep no time (counters, sets, classic values).
	Updated time.Time
}

// EntryInfo is one key, element or register value.
type EntryInfo struct {
	// Key is the map key, the set element or the classic node name; empty
	// for a register.
	Key string
	// Value is the entry's value rendered for people.
	Value string
	// Replica wrote the entry.
	Replica crdt.Replica
	// Updated is the write's timestamp (zero where the type keeps none).
	Updated time.Time
	// Deleted marks a map tombstone.
	Deleted bool
}

// Values returns a description of every value registered on n, sorted by
// name; nil after Leave or Close. Values a peer sent for names not
// registered here are not included (see Stats.PendingValues). Each value
// is described under its lock, one at a time, so the list is not one
// atomic snapshot of the node.
func (n *Node) Values() []ValueInfo {
	if n.closed.Load() {
		return nil
	}
	entries := n.entries()
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	now := n.now()
	out := make([]ValueInfo, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.describe(now))
	}
	return out
}

// currentValue is implemented by every valueAdapter: it hands out the
// local CRDT state for description.
type currentValue interface{ current() any }

func (a *valueAdapter[T]) current() any { return a.v }

func (e *entry) describe(now time.Time) ValueInfo {
	info := ValueInfo{Name: e.name, Type: e.typeName}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone.Load() {
		info.Value = notDescribable
		return info
	}
	if e.prepare != nil {
		e.prepare()
	}
	cv, ok := e.a.(currentValue)
	if !ok {
		info.Value = notDescribable
		return info
	}
	describeValue(&info, cv.current(), now)
	if len(info.Entries) > maxInfoEntries {
		info.MoreEntries += len(info.Entries) - maxInfoEntries
		info.Entries = info.Entries[:maxInfoEntries]
	}
	return info
}

// entryRanger is what Values needs of a map to describe it without
// scanning it: crdt.LWWMap of any key and value type.
type entryRanger interface {
	RangeAny(fn func(key, value any, ts crdt.Timestamp, deleted bool) bool)
	Len() int
	Tombstones() int
}

// describeMap lists a map's first maxInfoEntries entries in key order:
// O(log n + shown), whatever the map's size.
func describeMap(info *ValueInfo, m entryRanger) {
	live, tomb := m.Len(), m.Tombstones()
	info.Value = fmt.Sprintf("%d keys", live)
	if tomb > 0 {
		info.Value += fmt.Sprintf(" (+%d deleted)", tomb)
	}
	writers := make(map[crdt.Replica]*ReplicaInfo)
	m.RangeAny(func(key, value any, ts crdt.Timestamp, deleted bool) bool {
		if len(info.Entries) == maxInfoEntries {
			return false
		}
		ei := EntryInfo{Key: render(key), Replica: ts.Replica, Updated: ts.Time(), Deleted: deleted}
		if !deleted {
			ei.Value = render(value)
			countWrite(writers, ts)
		}
		info.Entries = append(info.Entries, ei)
		return true
	})
	info.MoreEntries = live + tomb - len(info.Entries)
	addWriters(info, writers)
}

func countWrite(writers map[crdt.Replica]*ReplicaInfo, ts crdt.Timestamp) {
	w := writers[ts.Replica]
	if w == nil {
		w = &ReplicaInfo{Replica: ts.Replica}
		writers[ts.Replica] = w
	}
	w.Count++
	if tt := ts.Time(); tt.After(w.Updated) {
		w.Updated = tt
	}
}

func addWriters(info *ValueInfo, writers map[crdt.Replica]*ReplicaInfo) {
	for _, w := range writers {
		w.Contribution = fmt.Sprintf("%d written last", int(w.Count))
		info.Replicas = append(info.Replicas, *w)
	}
	sortReplicas(info.Replicas)
}

// describeValue fills info for the CRDT types shoal ships. LWWMap is read
// through entryRanger; the other generic ones (LWWRegister, ORSet) through
// their exported wire fields by reflection, since no type switch can name
// every instantiation.
func describeValue(info *ValueInfo, v any, now time.Time) {
	switch v := v.(type) {
	case *crdt.GCounter:
		info.Value = fmt.Sprint(v.Value())
		for _, s := range v.Slots() {
			info.Replicas = append(info.Replicas, ReplicaInfo{Replica: s.Replica, Count: float64(s.N), Contribution: fmt.Sprint(s.N)})
		}
	case *crdt.PNCounter:
		info.Value = fmt.Sprint(v.Value())
		describePNCounter(info, v)
	case *crdt.WindowCounter:
		info.Value = fmt.Sprintf("%.1f in the %v window", v.ValueAt(now), v.Window())
		for _, c := range v.Contributions(now) {
			info.Replicas = append(info.Replicas, ReplicaInfo{
				Replica: c.Replica, Count: c.Count, Updated: c.Newest,
				Contribution: fmt.Sprintf("%.1f", c.Count),
			})
		}
	case *classicValue:
		describeClassic(info, v)
	case entryRanger:
		describeMap(info, v)
	default:
		describeReflect(info, v)
		if info.Value == notDescribable {
			// A type this file does not know (a newer CRDT): its size at
			// least, if it tells.
			if l, ok := v.(interface{ Len() int }); ok {
				info.Value = fmt.Sprintf("%d entries", l.Len())
			}
		}
	}
}

// notDescribable is the Value of a type Values cannot look into.
const notDescribable = "(not describable)"

func describePNCounter(info *ValueInfo, v *crdt.PNCounter) {
	type pn struct{ p, n uint64 }
	by := make(map[crdt.Replica]*pn)
	get := func(r crdt.Replica) *pn {
		if by[r] == nil {
			by[r] = &pn{}
		}
		return by[r]
	}
	for _, s := range v.P.Slots() {
		get(s.Replica).p = s.N
	}
	for _, s := range v.N.Slots() {
		get(s.Replica).n = s.N
	}
	for r, c := range by {
		net := float64(c.p) - float64(c.n)
		text := fmt.Sprint(int64(c.p) - int64(c.n))
		if c.n != 0 {
			text = fmt.Sprintf("%s (+%d −%d)", text, c.p, c.n)
		}
		info.Replicas = append(info.Replicas, ReplicaInfo{Replica: r, Count: net, Contribution: text})
	}
	sortReplicas(info.Replicas)
}

func describeClassic(info *ValueInfo, v *classicValue) {
	info.Value = fmt.Sprintf("%d nodes", len(v.Entries))
	for i := range v.Entries {
		if i == maxInfoEntries {
			info.MoreEntries = len(v.Entries) - i
			break
		}
		ce := &v.Entries[i]
		r := crdt.Replica{Node: ce.Node, Incarnation: ce.Incarnation}
		val, err := v.value(i)
		var text string
		switch {
		case err != nil:
			text = "undecodable: " + err.Error()
		case val == nil && !ce.decoded:
			text = fmt.Sprintf("(%d bytes, type not registered here)", len(ce.Raw))
		default:
			text = render(val)
		}
		info.Entries = append(info.Entries, EntryInfo{Key: ce.Node, Value: text, Replica: r})
		info.Replicas = append(info.Replicas, ReplicaInfo{Replica: r, Count: 1, Contribution: fmt.Sprintf("update #%d: %s", ce.Seq, text)})
	}
}

var timestampType = reflect.TypeFor[crdt.Timestamp]()

// describeReflect handles crdt.LWWRegister and crdt.ORSet of any type
// parameters through their exported fields.
func describeReflect(info *ValueInfo, v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		info.Value = notDescribable
		return
	}
	rv = rv.Elem()
	t := rv.Type()
	name := t.Name()
	if t.PkgPath() != reflect.TypeFor[crdt.Replica]().PkgPath() {
		info.Value = notDescribable
		return
	}
	writers := make(map[crdt.Replica]*ReplicaInfo)
	switch {
	case strings.HasPrefix(name, "LWWRegister["):
		tsf := rv.FieldByName("TS")
		if !tsf.IsValid() || tsf.Type() != timestampType {
			info.Value = notDescribable
			return
		}
		ts := tsf.Interface().(crdt.Timestamp)
		if ts.IsZero() {
			info.Value = "(unset)"
			return
		}
		info.Value = render(rv.FieldByName("V").Interface())
		info.Entries = append(info.Entries, EntryInfo{Value: info.Value, Replica: ts.Replica, Updated: ts.Time()})
		countWrite(writers, ts)
	case strings.HasPrefix(name, "ORSet["):
		es := rv.FieldByName("E")
		elems := 0
		last := ""
		for i := 0; i < es.Len(); i++ {
			if len(info.Entries) == maxInfoEntries {
				// Stop at what is shown; the set counts its elements.
				if l, ok := v.(interface{ Len() int }); ok {
					elems = l.Len()
				}
				info.MoreEntries = es.Len() - i
				break
			}
			en := es.Index(i)
			dot, ok := en.FieldByName("Dot").Interface().(crdt.Dot)
			if !ok {
				continue
			}
			key := render(en.FieldByName("Elem").Interface())
			if i == 0 || key != last {
				elems++
			}
			last = key
			info.Entries = append(info.Entries, EntryInfo{Key: key, Replica: dot.Replica, Value: fmt.Sprintf("added by %s (dot %d)", dot.Replica, dot.Counter)})
			w := writers[dot.Replica]
			if w == nil {
				w = &ReplicaInfo{Replica: dot.Replica}
				writers[dot.Replica] = w
			}
			w.Count++
		}
		info.Value = fmt.Sprintf("%d elements", elems)
	default:
		info.Value = notDescribable
		return
	}
	addWriters(info, writers)
}

func sortReplicas(rs []ReplicaInfo) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Replica.Compare(rs[j].Replica) < 0 })
}

// render formats v for people, cut at maxInfoText bytes.
func render(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case []byte:
		s = fmt.Sprintf("%q", v)
	default:
		s = fmt.Sprintf("%v", v)
	}
	if len(s) > maxInfoText {
		cut := maxInfoText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
