package swarm

import (
	"maps"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/crdt"
)

// MemberState is what this node believes of a member.
type MemberState int

const (
	// MemberAlive: the member answers probes.
	MemberAlive MemberState = iota + 1
	// MemberFailed: the member stopped answering and was declared dead; it
	// may come back.
	MemberFailed
	// MemberLeft: the member announced that it left.
	MemberLeft
)

func (s MemberState) String() string {
	switch s {
	case MemberAlive:
		return "alive"
	case MemberFailed:
		return "failed"
	case MemberLeft:
		return "left"
	}
	return "unknown"
}

// Member is a node of the cluster as this node sees it.
type Member struct {
	Name string
	Addr netip.AddrPort
	// Replica is the member's current run (its name and incarnation, from
	// its metadata).
	Replica crdt.Replica
	State   MemberState
	// Since is when this node saw the member enter State.
	Since time.Time
}

// MemberEvent reports a change of a member's state or incarnation.
type MemberEvent struct {
	Member Member
	// Previous is the state before the event (0 for a member not seen
	// before).
	Previous MemberState
}

// membership keeps every member seen, alive or not, and fans events out to
// subscribers without ever blocking memberlist.
type membership struct {
	n       *Node
	mu      sync.RWMutex
	members map[string]Member
	// snapshot is a copy of members for retirement passes, made again only
	// after members changed (nil then): a pass every few seconds on each
	// of 500 nodes copying 500 members was a twelfth of the allocation of
	// a 500-node process. Shared by the views; never changed once made.
	snapshot map[string]Member
	subs     map[chan MemberEvent]struct{}
	hooks    []func(MemberEvent)
	// nodes holds a copy of each live peer's memberlist node, taken inside
	// memberlist's callbacks (which run under memberlist's node lock):
	// Memberlist.Members returns pointers memberlist later mutates, so
	// reading them outside its lock races. A copy is never changed once
	// stored (a change stores a new one), so node and peers hand out the
	// pointers themselves, and every send reads them without a copy: at 500
	// members the broadcast tree looks one up per destination per batch.
	nodes map[string]*memberlist.Node
	// leavers are replicas that announced they are leaving on purpose.
	leavers map[crdt.Replica]time.Time
	// superseded holds, per name, the run a member's announced replica
	// replaced, and until when its last deltas are still taken (see
	// Node.checkOrigin); one per name, forgotten with the member.
	superseded map[string]supersededRun
}

// supersededRun is a member's previous run, whose last deltas may still
// be on their way when its next run is announced.
type supersededRun struct {
	replica crdt.Replica
	until   time.Time
}

func newMembership(n *Node) *membership {
	return &membership{n: n, members: make(map[string]Member), subs: make(map[chan MemberEvent]struct{}),
		leavers: make(map[crdt.Replica]time.Time), nodes: make(map[string]*memberlist.Node),
		superseded: make(map[string]supersededRun)}
}

func (m *membership) setLocal(ln *memberlist.Node) {
	m.update(ln, MemberAlive)
}

func toMember(ln *memberlist.Node, st MemberState, now time.Time) Member {
	addr, _ := netip.AddrFromSlice(ln.Addr)
	mem := Member{Name: ln.Name, Addr: netip.AddrPortFrom(addr.Unmap(), ln.Port), State: st, Since: now}
	if inc, ok := parseMeta(ln.Meta); ok {
		mem.Replica = crdt.Replica{Node: ln.Name, Incarnation: inc}
	}
	return mem
}

func (m *membership) update(ln *memberlist.Node, st MemberState) {
	mem := toMember(ln, st, m.n.now())
	cp := *ln
	cp.Addr = append(net.IP(nil), ln.Addr...)
	cp.Meta = append([]byte(nil), ln.Meta...)
	m.mu.Lock()
	if st == MemberAlive {
		m.nodes[ln.Name] = &cp
	} else {
		delete(m.nodes, ln.Name)
	}
	old, seen := m.members[ln.Name]
	if seen && old.State == st && old.Replica == mem.Replica {
		m.mu.Unlock()
		return
	}
	if seen && old.State == st {
		mem.Since = old.Since
	}
	if seen && !old.Replica.IsZero() && older(old.Replica, mem.Replica) {
		m.superseded[ln.Name] = supersededRun{replica: old.Replica, until: m.n.now().Add(m.n.earlyHold())}
	}
	m.members[ln.Name] = mem
	m.snapshot = nil
	ev := MemberEvent{Member: mem}
	if seen {
		ev.Previous = old.State
	}
	for ch := range m.subs {
		select {
		case ch <- ev:
		default:
			m.n.stats.drop(dropSlowMember)
		}
	}
	hooks := m.hooks
	m.mu.Unlock()
	if m.n.early != nil && st == MemberAlive && !mem.Replica.IsZero() {
		m.n.early.release(mem.Replica) // its deltas that came first
	}
	for _, h := range hooks {
		h(ev)
	}
}

// leaving records r's announcement that it is leaving; the announcement is
// forgotten after a minute, by which time memberlist has acted on it.
func (m *membership) leaving(r crdt.Replica) {
	now := m.n.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, t := range m.leavers {
		if now.Sub(t) > time.Minute {
			delete(m.leavers, k)
		}
	}
	m.leavers[r] = now
}

// departed records a member memberlist no longer counts: left if it said so.
func (m *membership) departed(ln *memberlist.Node) {
	st := MemberFailed
	if ln.State == memberlist.StateLeft {
		st = MemberLeft
	}
	if inc, ok := parseMeta(ln.Meta); ok {
		m.mu.RLock()
		_, said := m.leavers[crdt.Replica{Node: ln.Name, Incarnation: inc}]
		m.mu.RUnlock()
		if said {
			st = MemberLeft
		}
	}
	m.update(ln, st)
}

// retireView snapshots the member table for a retirement pass, first
// forgetting the members that have been failed or left for after: the
// table holds the live members and the recently departed only. It returns
// how many it forgot. O(members), under the table's lock; the copy is
// made only when the table changed since the last pass.
func (m *membership) retireView(now time.Time, self crdt.Replica, started time.Time, after, grace time.Duration) (*retireView, int) {
	v := &retireView{self: self, now: now, after: after, grace: grace, known: now.Sub(started) >= after, folder: self}
	forgotten := 0
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, mem := range m.members {
		if p, ok := m.superseded[name]; ok && now.After(p.until) {
			delete(m.superseded, name)
		}
		if mem.State != MemberAlive && name != self.Node && now.Sub(mem.Since) >= after {
			delete(m.members, name)
			delete(m.superseded, name)
			forgotten++
			continue
		}
		r := mem.Replica
		if mem.State == MemberAlive && !r.IsZero() && older(r, v.folder) {
			v.folder = r
		}
	}
	if m.snapshot == nil || forgotten > 0 {
		m.snapshot = maps.Clone(m.members)
	}
	v.members = m.snapshot
	return v, forgotten
}

func (m *membership) list() []Member {
	m.mu.RLock()
	out := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, mem)
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// peers returns the live members' memberlist nodes, this node excluded,
// to send to. They are shared: read them, do not change them.
func (m *membership) peers() []*memberlist.Node {
	self := m.n.cfg.Name
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*memberlist.Node, 0, len(m.nodes))
	for name, nd := range m.nodes {
		if name != self {
			out = append(out, nd)
		}
	}
	return out
}

// supersededLately reports whether r is the run a member's current one
// replaced less than the early hold ago.
func (m *membership) supersededLately(r crdt.Replica, now time.Time) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.superseded[r.Node]
	return ok && p.replica == r && !now.After(p.until)
}

func (m *membership) get(name string) (Member, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mem, ok := m.members[name]
	return mem, ok
}

func (m *membership) subscribe(buffer int) (<-chan MemberEvent, func()) {
	ch := make(chan MemberEvent, buffer)
	m.mu.Lock()
	if m.subs == nil { // closed
		m.mu.Unlock()
		close(ch)
		return ch, func() {}
	}
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			m.mu.Lock()
			if _, ok := m.subs[ch]; ok {
				delete(m.subs, ch)
				close(ch)
			}
			m.mu.Unlock()
		})
	}
}

// addHook registers fn to run (synchronously, outside the lock) on every
// event; fn must not block. For the package's own adapters (the
// broadcast tree).
func (m *membership) addHook(fn func(MemberEvent)) {
	m.mu.Lock()
	m.hooks = append(m.hooks, fn)
	m.mu.Unlock()
}

func (m *membership) close() {
	m.mu.Lock()
	for ch := range m.subs {
		close(ch)
	}
	m.subs = nil
	m.mu.Unlock()
}

// eventDelegate is the Node as memberlist's EventDelegate.
type eventDelegate Node

func (d *eventDelegate) NotifyJoin(ln *memberlist.Node)   { d.members.update(ln, MemberAlive) }
func (d *eventDelegate) NotifyUpdate(ln *memberlist.Node) { d.members.update(ln, MemberAlive) }
func (d *eventDelegate) NotifyLeave(ln *memberlist.Node)  { d.members.departed(ln) }

// Members returns every member this node has seen, alive or gone for less
// than Config.RetireAfter (the table then forgets it), sorted by name, this
// node included.
func (n *Node) Members() []Member { return n.members.list() }

// Member returns what this node knows of the named member.
func (n *Node) Member(name string) (Member, bool) { return n.members.get(name) }

// SubscribeMembers returns a channel of membership events and a function
// that cancels the subscription and closes the channel. Events are never
// waited for: when the channel's buffer is full an event is dropped and
// counted in Stats.Dropped, so read promptly or size the buffer. The
// channel is closed when the node shuts down.
func (n *Node) SubscribeMembers(buffer int) (<-chan MemberEvent, func()) {
	if buffer < 1 {
		buffer = 1
	}
	return n.members.subscribe(buffer)
}
