package swarm

import (
	"sync"

	"github.com/shoal-go/shoal/codec"
)

// Reasons for dropping a value held for an unregistered name.
const (
	dropPendingBytes = "pending_bytes" // evicted or refused to stay within MaxPendingBytes
)

// pendingOverhead is what one held value costs beside its payload and
// strings: the envelope, the map entry and the queue slot.
const pendingOverhead = 160

// pendingStore keeps values that arrived for names not yet registered on
// this node, so a node that registers a value after joining starts from
// what the cluster already knows. It is bounded twice, oldest first out:
// by count (Config.MaxPendingValues) and by bytes (Config.MaxPendingBytes,
// payload, strings and overhead), since one value may be as large as
// MaxMessageBytes. A value larger than the byte bound alone is refused.
// Every eviction or refusal is counted by reason through drop.
type pendingStore struct {
	mu        sync.Mutex
	maxValues int
	maxBytes  int
	bytes     int
	order     []pendingKey // first arrival order; each key once
	envs      map[pendingKey]pendingValue
	drop      func(reason string)
}

type pendingKey struct {
	name   string
	origin string
	kind   codec.Kind
}

type pendingValue struct {
	env  codec.Envelope
	size int
}

func newPendingStore(maxValues, maxBytes int, drop func(reason string)) *pendingStore {
	return &pendingStore{maxValues: maxValues, maxBytes: maxBytes, envs: make(map[pendingKey]pendingValue), drop: drop}
}

func (k pendingKey) size(payload int) int {
	return payload + 2*len(k.name) + len(k.origin) + pendingOverhead
}

// put keeps a copy of env, replacing an older one from the same origin
// and of the same kind for the same name, and evicts the oldest values
// while either bound is exceeded. Each value evicted or refused is
// counted.
func (p *pendingStore) put(env *codec.Envelope) {
	k := pendingKey{env.Name, env.Origin.String(), env.Kind}
	size := k.size(len(env.Payload)) + len(env.Type)
	if p.maxValues == 0 || size > p.maxBytes {
		p.drop(dropPendingBytes)
		return
	}
	c := *env
	c.Payload = append([]byte(nil), env.Payload...)
	p.mu.Lock()
	defer p.mu.Unlock()
	// A later delta from the same origin does not contain the earlier one,
	// but a later full state does; keeping only the newest per origin and
	// kind bounds memory, and anti-entropy repairs what a dropped delta
	// carried. The replacement keeps the first arrival's place.
	if old, ok := p.envs[k]; ok {
		p.bytes -= old.size
	} else {
		p.order = append(p.order, k)
	}
	p.envs[k] = pendingValue{env: c, size: size}
	p.bytes += size
	for len(p.envs) > p.maxValues || p.bytes > p.maxBytes {
		reason := dropPendingBytes
		if len(p.envs) > p.maxValues {
			reason = dropPendingFull
		}
		oldest := p.order[0]
		p.order[0] = pendingKey{}
		p.order = p.order[1:]
		p.bytes -= p.envs[oldest].size
		delete(p.envs, oldest)
		p.drop(reason)
	}
}

// take removes and returns the values held for name, oldest first.
func (p *pendingStore) take(name string) []codec.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []codec.Envelope
	keep := p.order[:0]
	for _, k := range p.order {
		if k.name == name {
			v := p.envs[k]
			out = append(out, v.env)
			p.bytes -= v.size
			delete(p.envs, k)
			continue
		}
		keep = append(keep, k)
	}
	clear(p.order[len(keep):])
	p.order = keep
	if len(p.envs) == 0 {
		p.order = nil // give a burst's queue back
	}
	return out
}

// usage returns how many values and bytes are held.
func (p *pendingStore) usage() (values, bytes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.envs), p.bytes
}

func (p *pendingStore) len() int {
	n, _ := p.usage()
	return n
}
