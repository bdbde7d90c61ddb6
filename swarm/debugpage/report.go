package debugpage

import (
	"sort"
	"time"

	"github.com/shoal-go/shoal/swarm"
)

// Report is everything the page shows, in the form ?format=json returns.
// Ages are seconds before Time; a zero time in the node's data (a type
// that keeps no timestamps) gives no age (null in JSON).
type Report struct {
	Node    string    `json:"node"`
	Replica string    `json:"replica"`
	Addr    string    `json:"addr"`
	Time    time.Time `json:"time"`
	Closed  bool      `json:"closed"`
	Members []Member  `json:"members"`
	Values  []Value   `json:"values"`
	Traffic Traffic   `json:"traffic"`
}

// Member is one member as the node sees it.
type Member struct {
	Name        string    `json:"name"`
	Addr        string    `json:"addr"`
	Incarnation uint64    `json:"incarnation"`
	State       string    `json:"state"`
	Since       time.Time `json:"since"`
	AgeSeconds  float64   `json:"age_seconds"`
}

// Value is one shared value with each replica's share.
type Value struct {
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Value       string    `json:"value"`
	Replicas    []Replica `json:"replicas"`
	Entries     []Entry   `json:"entries,omitempty"`
	MoreEntries int       `json:"more_entries,omitempty"`
}

// Replica is one replica's share of a value.
type Replica struct {
	Node         string     `json:"node"`
	Incarnation  uint64     `json:"incarnation"`
	Contribution string     `json:"contribution"`
	Count        float64    `json:"count"`
	Updated      *time.Time `json:"updated"`
	AgeSeconds   *float64   `json:"age_seconds"`
}

// Entry is a map key, a set element, a register's or a classic node's
// value.
type Entry struct {
	Key         string     `json:"key,omitempty"`
	Value       string     `json:"value"`
	Node        string     `json:"node"`
	Incarnation uint64     `json:"incarnation"`
	Updated     *time.Time `json:"updated"`
	AgeSeconds  *float64   `json:"age_seconds"`
	Deleted     bool       `json:"deleted,omitempty"`
}

// Traffic is the node's counters (see swarm.Stats).
type Traffic struct {
	LiveMembers           int    `json:"live_members"`
	Kinds                 []Kind `json:"kinds"`
	WireBytesSent         uint64 `json:"wire_bytes_sent"`
	BroadcastQueue        int    `json:"broadcast_queue"`
	Dropped               uint64 `json:"dropped"`
	DecodeErrors          uint64 `json:"decode_errors"`
	TransportErrors       uint64 `json:"transport_errors"`
	PushPulls             uint64 `json:"push_pulls"`
	PushPullBytesSent     uint64 `json:"push_pull_bytes_sent"`
	PushPullBytesReceived uint64 `json:"push_pull_bytes_received"`
	StateOverflows        uint64 `json:"state_overflows"`
	DiscoveryErrors       uint64 `json:"discovery_errors"`
	PendingValues         int    `json:"pending_values"`
	EarlyDeltas           int    `json:"early_deltas"`
}

// Kind is the traffic of one message kind.
type Kind struct {
	Kind             string `json:"kind"`
	SentMessages     uint64 `json:"sent_messages"`
	SentBytes        uint64 `json:"sent_bytes"`
	ReceivedMessages uint64 `json:"received_messages"`
	ReceivedBytes    uint64 `json:"received_bytes"`
}

// Collect gathers the report for n at now (the page uses time.Now). It
// never fails: a closed node reports Closed and no values.
func Collect(n *swarm.Node, now time.Time) Report {
	r := Report{
		Node:    n.Name(),
		Replica: n.Replica().String(),
		Time:    now,
		Closed:  n.Closed(),
		Members: []Member{},
		Values:  []Value{},
	}
	if !r.Closed {
		r.Addr = n.Addr()
	}
	for _, m := range n.Members() {
		r.Members = append(r.Members, Member{
			Name: m.Name, Addr: m.Addr.String(), Incarnation: m.Replica.Incarnation,
			State: m.State.String(), Since: m.Since, AgeSeconds: now.Sub(m.Since).Seconds(),
		})
	}
	for _, v := range n.Values() {
		out := Value{Name: v.Name, Type: v.Type, Value: v.Value, Replicas: []Replica{}, MoreEntries: v.MoreEntries}
		for _, rp := range v.Replicas {
			upd, age := when(rp.Updated, now)
			out.Replicas = append(out.Replicas, Replica{
				Node: rp.Replica.Node, Incarnation: rp.Replica.Incarnation,
				Contribution: rp.Contribution, Count: rp.Count, Updated: upd, AgeSeconds: age,
			})
		}
		for _, e := range v.Entries {
			upd, age := when(e.Updated, now)
			out.Entries = append(out.Entries, Entry{
				Key: e.Key, Value: e.Value, Node: e.Replica.Node, Incarnation: e.Replica.Incarnation,
				Updated: upd, AgeSeconds: age, Deleted: e.Deleted,
			})
		}
		r.Values = append(r.Values, out)
	}
	st := n.Stats()
	r.Traffic = Traffic{
		LiveMembers: st.Members, WireBytesSent: st.WireBytesSent, BroadcastQueue: st.BroadcastQueue,
		Dropped: st.Dropped, DecodeErrors: st.DecodeErrors, TransportErrors: st.TransportErrors,
		PushPulls: st.PushPulls, PushPullBytesSent: st.PushPullBytesSent, PushPullBytesReceived: st.PushPullBytesReceived,
		StateOverflows: st.StateOverflows, DiscoveryErrors: st.DiscoveryErrors, PendingValues: st.PendingValues,
		EarlyDeltas: st.EarlyDeltas, Kinds: []Kind{},
	}
	kinds := make(map[string]bool)
	for k := range st.Sent {
		kinds[k] = true
	}
	for k := range st.Received {
		kinds[k] = true
	}
	for k := range kinds {
		s, rc := st.Sent[k], st.Received[k]
		r.Traffic.Kinds = append(r.Traffic.Kinds, Kind{Kind: k, SentMessages: s.Messages, SentBytes: s.Bytes, ReceivedMessages: rc.Messages, ReceivedBytes: rc.Bytes})
	}
	sort.Slice(r.Traffic.Kinds, func(i, j int) bool { return r.Traffic.Kinds[i].Kind < r.Traffic.Kinds[j].Kind })
	return r
}

func when(t, now time.Time) (*time.Time, *float64) {
	if t.IsZero() {
		return nil, nil
	}
	age := now.Sub(t).Seconds()
	return &t, &age
}
