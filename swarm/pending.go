package swarm

import (
	"sync"

	"github.com/shoal-go/shoal/codec"
)

// pendingStore keeps values that arrived for names not yet registered on
// this node, bounded by count (oldest first out), so a node that registers
// a value after joining starts from what the cluster already knows.
type pendingStore struct {
	mu    sync.Mutex
	max   int
	order []pendingKey
	envs  map[pendingKey]codec.Envelope
}

type pendingKey struct {
	name   string
	origin string
	kind   codec.Kind
}

func newPendingStore(max int) *pendingStore {
	return &pendingStore{max: max, envs: make(map[pendingKey]codec.Envelope)}
}

// put keeps a copy of env, replacing an older one from the same origin for
// the same name, and reports whether it had to evict (or refuse) one.
func (p *pendingStore) put(env *codec.Envelope) (dropped bool) {
	if p.max == 0 {
		return true
	}
	k := pendingKey{env.Name, env.Origin.String(), env.Kind}
	c := *env
	c.Payload = append([]byte(nil), env.Payload...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.envs[k]; !ok {
		if len(p.order) >= p.max {
			delete(p.envs, p.order[0])
			p.order = p.order[1:]
			dropped = true
		}
		p.order = append(p.order, k)
	}
	// A later delta from the same origin does not contain the earlier one,
	// but a later full state does; keeping only the newest per origin and
	// kind bounds memory, and anti-entropy repairs what a dropped delta
	// carried.
	p.envs[k] = c
	return dropped
}

// take removes and returns the values held for name, oldest first.
func (p *pendingStore) take(name string) []codec.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []codec.Envelope
	keep := p.order[:0]
	for _, k := range p.order {
		if k.name == name {
			out = append(out, p.envs[k])
			delete(p.envs, k)
			continue
		}
		keep = append(keep, k)
	}
	p.order = keep
	return out
}

func (p *pendingStore) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.envs)
}
