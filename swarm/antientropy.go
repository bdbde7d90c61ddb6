package swarm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/swarm/internal/digest"
)

// kindDigest carries a node's summary of its values (per bucket, the XOR
// of its values' state hashes): the anti-entropy part of a push/pull.
const kindDigest codec.Kind = 9

// kindDigestDetail carries, for the buckets whose summaries differed, the
// (name, hash) of every value the sender holds in them. It travels over
// the reliable stream; the receiver answers with the states that differ.
const kindDigestDetail codec.Kind = 10

const (
	// aeChunkBytes bounds one reliable message of details or states: an
	// exchange has no size cap, it is cut into messages of this size.
	aeChunkBytes = 1 << 20
	// aeMaxQueuedBytes bounds the digests and details waiting for the
	// anti-entropy worker; more are dropped (the next exchange retries).
	aeMaxQueuedBytes = 16 << 20
	aeQueueLen       = 64
	// aeRetries and aeRetryDelay bound the wait for a peer to appear in
	// the member table.
	aeRetries    = 20
	aeRetryDelay = 50 * time.Millisecond
)

const (
	dropAntiEntropyBusy    = "anti_entropy_busy"    // a digest or detail the busy worker could not take
	dropAntiEntropyUnknown = "anti_entropy_unknown" // a digest or detail from a peer that never became a member
	rejectDigest           = "digest"               // a summary or detail that is not well formed
)

// digestMsg is the payload of a kindDigest envelope.
type digestMsg struct {
	_       struct{} `cbor:",toarray"`
	Buckets uint32
	Hashes  []byte // 8 bytes big-endian per bucket
}

// detailMsg is the payload of a kindDigestDetail envelope: the sender's
// values in the Covered buckets (of Buckets).
type detailMsg struct {
	_ struct{} `cbor:",toarray"`
	// Exchange numbers the sender's comparisons: the chunks of one
	// comparison share it.
	Exchange uint64
	Buckets  uint32
	Covered  []uint32
	Names    []string
	Hashes   []byte // 8 bytes big-endian per name
}

// aeJob is work for the anti-entropy worker: a peer's summary to compare
// (sum set) or its detail to answer (detail set).
type aeJob struct {
	tries    int
	peer     string
	exchange uint64
	buckets  int
	sum      []uint64
	covered  []uint32
	detail   []digest.Item
	bytes    int
}

// antiEntropy runs the digest exchange's heavy half (hashing, details,
// encoding and sending states) on one goroutine, so memberlist's callbacks
// only decode and enqueue.
type antiEntropy struct {
	n      *Node
	jobs   chan aeJob
	queued atomic.Int64
	// Exchanges counts summaries compared; Quiet those that found nothing
	// to do.
	exchanges, quiet atomic.Uint64
	// answered holds, per peer, the comparison this node last answered
	// with states and until when a newer one is not answered: a peer's
	// next detail, made before it merged what we sent, would ask for the
	// same states again. Only the worker goroutine uses it.
	answered map[string]answerState
	// compared holds, per peer, until when its next summary is not
	// compared: our details and its states of the last comparison are
	// still being merged. Only the worker goroutine uses it.
	compared map[string]time.Time
	// settling counts details left unanswered for that reason.
	settling atomic.Uint64
	// waiting holds jobs from peers not in the member table yet (worker
	// goroutine only).
	waiting []aeJob
}

type answerState struct {
	exchange uint64
	until    time.Time
}

func newAntiEntropy(n *Node) *antiEntropy {
	ae := &antiEntropy{n: n, jobs: make(chan aeJob, aeQueueLen), answered: make(map[string]answerState), compared: make(map[string]time.Time)}
	n.handlers[kindDigestDetail] = ae.onDetail
	return ae
}

func (ae *antiEntropy) run() {
	defer ae.n.wg.Done()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		var j aeJob
		select {
		case <-ae.n.stop:
			return
		case j = <-ae.jobs:
			ae.queued.Add(-int64(j.bytes))
		case <-retry.C:
			if len(ae.waiting) == 0 {
				continue
			}
			j = ae.waiting[0]
			ae.waiting = ae.waiting[1:]
		}
		if _, known := ae.n.members.node(j.peer); !known {
			ae.wait(j)
		} else if j.sum != nil {
			ae.compare(j)
		} else {
			ae.answer(j)
		}
		if len(ae.waiting) > 0 {
			retry.Reset(aeRetryDelay)
		}
	}
}

// wait keeps a job whose peer this node does not know yet, to retry: a
// joiner's detail can arrive before the push/pull that carried its digest
// has added it to the member table. After aeRetries tries it is dropped
// (the next exchange starts over).
func (ae *antiEntropy) wait(j aeJob) {
	if j.tries++; j.tries > aeRetries || len(ae.waiting) >= aeQueueLen {
		ae.n.stats.drop(dropAntiEntropyUnknown)
		return
	}
	ae.waiting = append(ae.waiting, j)
}

// enqueue hands j to the worker without blocking; it drops j (counted)
// when the worker is behind.
func (ae *antiEntropy) enqueue(j aeJob) {
	if ae.queued.Add(int64(j.bytes)) > aeMaxQueuedBytes {
		ae.queued.Add(-int64(j.bytes))
		ae.n.stats.drop(dropAntiEntropyBusy)
		return
	}
	select {
	case ae.jobs <- j:
	default:
		ae.queued.Add(-int64(j.bytes))
		ae.n.stats.drop(dropAntiEntropyBusy)
	}
}

// items returns every registered value's (name, state hash). A value's
// hash is cached until it changes, so a quiet exchange encodes nothing.
func (n *Node) items() []digest.Item {
	entries := n.entries()
	items := make([]digest.Item, 0, len(entries))
	for i, e := range entries {
		if i%256 == 255 && n.closed.Load() {
			return nil // memberlist does not wait for its callbacks at shutdown
		}
		h, err := n.stateHash(e)
		if errors.Is(err, ErrUnshared) {
			continue // unshared since the list was taken
		}
		if err != nil {
			n.log.Error("hash state", "value", e.name, "err", err)
			continue
		}
		items = append(items, digest.Item{Name: e.name, Hash: h})
	}
	return items
}

// stateHash returns the hash of e's canonical state, from the cache when
// e has not changed since it was computed.
func (n *Node) stateHash(e *entry) (uint64, error) {
	gen := e.gen.Load()
	e.mu.Lock()
	if e.gone.Load() {
		e.mu.Unlock()
		return 0, ErrUnshared
	}
	if e.hashGen == gen+1 {
		h := e.hash
		e.mu.Unlock()
		return h, nil
	}
	if e.prepare != nil {
		e.prepare()
	}
	w := e.a.clone()
	e.mu.Unlock()
	payload, err := e.a.encode(n.codec, nil, w)
	if err != nil {
		return 0, err
	}
	h := digest.Hash(e.typeName, e.name, payload)
	e.mu.Lock()
	e.hash, e.hashGen = h, gen+1 // stale as soon as gen moves on
	e.mu.Unlock()
	return h, nil
}

// digestEnvelope summarises this node's values.
func (n *Node) digestEnvelope() (codec.Envelope, error) {
	items := n.items()
	b := digest.Buckets(len(items))
	sum := digest.Summarize(items, b)
	payload, err := n.codec.Marshal(&digestMsg{Buckets: uint32(b), Hashes: packHashes(sum)})
	if err != nil {
		return codec.Envelope{}, fmt.Errorf("encode digest: %w", err)
	}
	return codec.Envelope{Kind: kindDigest, Origin: n.self, Payload: payload}, nil
}

// onDigest takes a peer's summary from its push/pull state.
func (ae *antiEntropy) onDigest(env *codec.Envelope) {
	var m digestMsg
	if err := ae.n.codec.Unmarshal(env.Payload, &m); err != nil || m.Buckets == 0 ||
		m.Buckets > digest.MaxBuckets || len(m.Hashes) != 8*int(m.Buckets) || env.Origin.Node == "" {
		ae.n.stats.reject(rejectDigest)
		ae.n.warnLimited(rejectDigest, "dropped a peer's digest that is not well formed", "origin", env.Origin.String(), "err", err)
		return
	}
	ae.enqueue(aeJob{peer: env.Origin.Node, buckets: int(m.Buckets), sum: unpackHashes(m.Hashes), bytes: len(m.Hashes)})
}

// onDetail takes a peer's detail (a NotifyMsg handler: decode, check,
// enqueue).
func (ae *antiEntropy) onDetail(env *codec.Envelope) {
	var m detailMsg
	err := ae.n.codec.Unmarshal(env.Payload, &m)
	if err == nil && (m.Buckets == 0 || m.Buckets > digest.MaxBuckets || len(m.Hashes) != 8*len(m.Names) || env.Origin.Node == "" ||
		slices.ContainsFunc(m.Covered, func(b uint32) bool { return b >= m.Buckets })) {
		err = fmt.Errorf("inconsistent detail: %d buckets, %d names, %d hash bytes", m.Buckets, len(m.Names), len(m.Hashes))
	}
	if err != nil {
		ae.n.stats.reject(rejectDigest)
		ae.n.warnLimited(rejectDigest, "dropped a peer's digest detail that is not well formed", "origin", env.Origin.String(), "err", err)
		return
	}
	hs := unpackHashes(m.Hashes)
	items := make([]digest.Item, len(m.Names))
	for i, name := range m.Names {
		items[i] = digest.Item{Name: name, Hash: hs[i]}
	}
	ae.enqueue(aeJob{peer: env.Origin.Node, exchange: m.Exchange, buckets: int(m.Buckets), covered: m.Covered, detail: items, bytes: len(env.Payload)})
}

// compare compares a peer's summary with ours and sends it the detail of
// the buckets that differ, in chunks.
func (ae *antiEntropy) compare(j aeJob) {
	n := ae.n
	start := time.Now()
	if start.Before(ae.compared[j.peer]) {
		ae.settling.Add(1)
		return
	}
	exchange := ae.exchanges.Add(1)
	items := n.items()
	diff := digest.Differing(digest.Summarize(items, j.buckets), j.sum)
	if len(diff) == 0 {
		ae.quiet.Add(1)
		return
	}
	defer func() {
		ae.compared[j.peer] = time.Now().Add(max(4*time.Since(start), 500*time.Millisecond))
		if len(ae.compared) > 4096 {
			for p, until := range ae.compared {
				if time.Now().After(until) {
					delete(ae.compared, p)
				}
			}
		}
	}()
	to, ok := n.members.node(j.peer)
	if !ok {
		return
	}
	byBucket := make(map[uint32][]digest.Item, len(diff))
	for _, it := range digest.Detail(items, j.buckets, diff) {
		b := digest.Bucket(it.Name, j.buckets)
		byBucket[b] = append(byBucket[b], it)
	}
	m := detailMsg{Exchange: exchange, Buckets: uint32(j.buckets)}
	size := 0
	flush := func() {
		if len(m.Covered) == 0 {
			return
		}
		payload, err := n.codec.Marshal(&m)
		if err == nil {
			err = n.sendReliable(to, codec.Envelope{Kind: kindDigestDetail, Origin: n.self, Payload: payload})
		}
		if err != nil {
			n.log.Warn("anti-entropy detail", "to", j.peer, "err", err)
		}
		m = detailMsg{Exchange: exchange, Buckets: uint32(j.buckets)}
		size = 0
	}
	for _, b := range diff {
		for _, it := range byBucket[b] {
			m.Names = append(m.Names, it.Name)
			m.Hashes = binary.BigEndian.AppendUint64(m.Hashes, it.Hash)
			size += len(it.Name) + 12
		}
		m.Covered = append(m.Covered, b)
		if size >= aeChunkBytes/2 {
			flush()
		}
	}
	flush()
}

// answer sends a peer, in chunks, the states of our values in the
// buckets its detail covers that it lacks or holds in another state.
func (ae *antiEntropy) answer(j aeJob) {
	n := ae.n
	start := time.Now()
	if st, ok := ae.answered[j.peer]; ok && st.exchange != j.exchange && start.Before(st.until) {
		ae.settling.Add(1)
		return
	}
	names := digest.ToSend(n.items(), j.buckets, j.covered, j.detail)
	if len(names) == 0 {
		return
	}
	to, ok := n.members.node(j.peer)
	if !ok {
		return
	}
	defer func() {
		// The peer merges about as fast as we encode and send: give it
		// a few times as long before answering a newer comparison.
		ae.answered[j.peer] = answerState{exchange: j.exchange, until: time.Now().Add(max(4*time.Since(start), 500*time.Millisecond))}
		if len(ae.answered) > 4096 {
			for p, st := range ae.answered {
				if time.Now().After(st.until) {
					delete(ae.answered, p)
				}
			}
		}
	}()
	var batch []codec.Envelope
	size := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		buf, err := n.codec.EncodeBatch(batch)
		if err == nil {
			err = n.ml.SendReliable(to, buf)
		}
		if err != nil {
			n.log.Warn("anti-entropy states", "to", j.peer, "values", len(batch), "err", err)
		} else {
			n.stats.sent(codec.KindState, len(buf))
		}
		batch, size = batch[:0], 0
	}
	for _, name := range names {
		env, ok, err := n.stateEnvelope(name)
		if err != nil {
			n.log.Error("encode state", "value", name, "err", err)
			continue
		}
		if !ok {
			continue // unregistered since
		}
		if sz := len(env.Payload) + len(env.Name) + len(env.Type) + 64; size+sz > aeChunkBytes && len(batch) > 0 {
			flush()
		}
		batch = append(batch, env)
		size += len(env.Payload) + len(env.Name) + len(env.Type) + 64
	}
	flush()
}

// stateEnvelope encodes the full state of the named value.
func (n *Node) stateEnvelope(name string) (codec.Envelope, bool, error) {
	n.valuesMu.RLock()
	e := n.values[name]
	n.valuesMu.RUnlock()
	if e == nil {
		return codec.Envelope{}, false, nil
	}
	e.mu.Lock()
	if e.gone.Load() {
		e.mu.Unlock()
		return codec.Envelope{}, false, nil // unshared since it was looked up
	}
	if e.prepare != nil {
		e.prepare()
	}
	w := e.a.clone()
	e.mu.Unlock()
	payload, err := e.a.encode(n.codec, nil, w)
	if err != nil {
		return codec.Envelope{}, false, err
	}
	return codec.Envelope{Kind: codec.KindState, Name: e.name, Type: e.typeName, Origin: n.self, Payload: payload}, true, nil
}

func (n *Node) sendReliable(to *memberlist.Node, env codec.Envelope) error {
	buf, err := n.codec.EncodeEnvelope(&env)
	if err != nil {
		return err
	}
	if err := n.ml.SendReliable(to, buf); err != nil {
		return err
	}
	n.stats.sent(env.Kind, len(buf))
	return nil
}

// node returns the named live member's memberlist node, shared (see
// membership.nodes): read it, do not change it.
func (m *membership) node(name string) (*memberlist.Node, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	nd, ok := m.nodes[name]
	if !ok || name == m.n.cfg.Name {
		return nil, false
	}
	return nd, true // shared: see membership.nodes
}

func packHashes(hs []uint64) []byte {
	b := make([]byte, 0, 8*len(hs))
	for _, h := range hs {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return b
}

func unpackHashes(b []byte) []uint64 {
	hs := make([]uint64, len(b)/8)
	for i := range hs {
		hs[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return hs
}

// localState is this node's push/pull state: a batch whose first envelope
// is the digest. On a join it also carries every value's full state, up
// to MaxStateBytes, so that a joiner holds what fits when Join returns;
// the digest exchange brings the rest.
func (n *Node) localState(join bool) []byte {
	if n.closed.Load() {
		return nil
	}
	dig, err := n.digestEnvelope()
	if err != nil {
		n.log.Error("anti-entropy digest", "err", err)
		return nil
	}
	envs := []codec.Envelope{dig}
	if join {
		envs = n.appendFullStates(envs, n.cfg.MaxStateBytes-len(dig.Payload))
	}
	buf, err := n.codec.EncodeBatch(envs)
	if err != nil {
		n.log.Error("encode state", "err", err)
		return nil
	}
	n.stats.pushPulls.Add(1)
	n.stats.ppSent.Add(uint64(len(buf)))
	n.stats.sent(kindDigest, len(dig.Payload))
	if len(envs) > 1 {
		n.stats.sent(codec.KindState, len(buf)-len(dig.Payload))
	}
	return buf
}

// appendFullStates appends the full state of every value while they fit
// in limit bytes; past it, the cut is counted and logged.
func (n *Node) appendFullStates(envs []codec.Envelope, limit int) []codec.Envelope {
	n.valuesMu.RLock()
	names := make([]string, 0, len(n.values))
	for name := range n.values {
		names = append(names, name)
	}
	n.valuesMu.RUnlock()
	size := 0
	for i, name := range names {
		if i%256 == 255 && n.closed.Load() {
			return envs
		}
		env, ok, err := n.stateEnvelope(name)
		if err != nil {
			n.log.Error("encode state", "value", name, "err", err)
			continue
		}
		if !ok {
			continue
		}
		sz := len(env.Payload) + len(env.Name) + len(env.Type) + 64
		if size+sz > limit {
			n.stats.stateOverflows.Add(1)
			n.log.Info("join state cut; the digest exchange sends the rest", "err", ErrStateTooLarge,
				"limit", limit, "values", len(names), "sent", i)
			break
		}
		size += sz
		envs = append(envs, env)
	}
	return envs
}

// mergeRemoteState merges the full states in a peer's push/pull state and
// enqueues its digest for comparison. A peer without digests (an older
// build) sends only states, which merge as before.
func (n *Node) mergeRemoteState(buf []byte) {
	if n.closed.Load() || len(buf) == 0 {
		return
	}
	n.stats.ppRecv.Add(uint64(len(buf)))
	envs, err := n.codec.DecodeBatch(buf)
	if err != nil {
		n.stats.reject(rejectDecode)
		n.warnLimited(rejectDecode, "dropped a peer's state that does not decode", "bytes", len(buf), "err", err)
		return
	}
	var dig *codec.Envelope
	in := n.inbound()
	for i := range envs {
		if envs[i].Kind == kindDigest {
			if dig == nil {
				dig = &envs[i]
			}
			continue
		}
		n.stats.received(envs[i].Kind, len(envs[i].Payload))
		n.receive(&envs[i], false, in)
	}
	if dig != nil {
		n.stats.received(kindDigest, len(dig.Payload))
		n.ae.onDigest(dig)
	}
}
