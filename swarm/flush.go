package swarm

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/codec"
)

// Reasons for Stats.Drops of the flusher: values a flush did not get to,
// counted one per value whether or not it had changed.
const (
	dropLeaveTimeout = "leave_timeout" // Leave's last flush ran out of LeaveTimeout
	dropFlushStopped = "flush_stopped" // the node stopped during a flush
)

// flushCheckEvery is how many values a flush handles between checks of
// the node's stop signal and deadline.
const flushCheckEvery = 256

// A flush encodes its payloads into chunks, and starts a new one when
// fewer than flushChunkMin bytes are left: the first of flushChunkFirst
// bytes, each next one twice the last, up to flushChunk. A flush of one
// small delta, the usual one on a node that serves requests, then
// allocates 1 KiB, not 32: a node flushing every 10 ms made 3.2 MB/s of
// garbage from its chunks alone.
const (
	flushChunkFirst = 1 << 10
	flushChunk      = 32 << 10
	flushChunkMin   = 512
)

// markDirty puts e on the dirty list and wakes the flusher.
func (n *Node) markDirty(e *entry) {
	n.dirtyMu.Lock()
	n.dirty = append(n.dirty, e)
	n.dirtyMu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// finalFlush asks the flusher for the last flush of Leave.
type finalFlush struct {
	deadline time.Time
	done     chan struct{}
}

// flushLoop sends local deltas: woken by the first update after a flush,
// it waits FlushInterval so that a burst leaves as one delta per value.
// Leave's final flush runs here too, after the flush in progress, so that
// flushes never overlap; the loop ends after it.
func (n *Node) flushLoop() {
	defer n.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	prune := time.NewTicker(10 * time.Second)
	defer prune.Stop()
	for {
		select {
		case <-n.stop:
			return
		case f := <-n.final:
			n.flushAll(f.deadline)
			close(f.done)
			return
		case <-prune.C:
			n.out.prune()
			continue
		case <-n.wake:
		}
		timer.Reset(n.cfg.FlushInterval)
		select {
		case <-n.stop:
			timer.Stop()
			return
		case f := <-n.final:
			timer.Stop()
			n.flushAll(f.deadline)
			close(f.done)
			return
		case <-timer.C:
		}
		n.flush()
	}
}

// flush sends the local delta of every value on the dirty list.
func (n *Node) flush() {
	n.dirtyMu.Lock()
	dirty := n.dirty
	n.dirty = nil
	n.dirtyMu.Unlock()
	for _, e := range dirty {
		e.dirty.Store(false)
	}
	n.send(dirty, time.Time{})
}

// flushAll is Leave's last flush. Leave set closing before asking for it,
// so every update either reached its value before the value's lock is
// taken here (and is in the delta sent) or finds closing set under that
// lock and returns ErrClosed. That is why it takes every value, not only
// those on the dirty list: an update marks its value dirty after releasing
// the lock.
func (n *Node) flushAll(deadline time.Time) {
	n.dirtyMu.Lock()
	n.dirty = nil
	n.dirtyMu.Unlock()
	n.send(n.entries(), deadline)
}

// A flush whose direct deltas would fill more than burstPackets packets is
// a burst: on the fast path it goes to each member as one reliable stream
// message (cut into parts of at most burstPartBytes) instead of hundreds of
// UDP packets. Measured with shoalbench burst (10 nodes, 5,000 values in
// one flush, docs/BENCHMARKS.md): as packets, a receiver that falls behind
// loses some to a full socket buffer, memberlist allocates 64 KiB for each
// one it reads, and every receiver relays every delta by gossip, so that
// the cluster's CPU per burst was 630 ms on an idle machine. A stream is
// delivered or fails at the sender, so receivers relay nothing and the
// origin queues no gossip copy; a failed send is counted
// (Drops["stream_send_failed"]) and left to anti-entropy. Below the
// threshold, packets cost one round trip less than a stream's handshake.
const (
	burstPackets   = 16
	burstPartBytes = 1 << 20
)

// kindBurst marks a delta sent by its origin to every member in a burst,
// over the reliable stream. Receivers merge it and do not relay it. A
// burst goes as packs now (kindPack); a value too large for a pack goes
// alone as kindBurst, and receivers still take the batches of kindBurst
// envelopes that the previous release sent.
const kindBurst codec.Kind = 12

// kindPack marks a burst's pack (codec's pack format): many values of the
// envelope's type, from its origin, each merged as a kindBurst envelope of
// its own. The type and origin are written once, not once per value: a
// 5,000-counter burst took 415 KB as envelopes, 205 KB as a pack.
const kindPack codec.Kind = 13

// flushItem is one value's delta taken by a flush, encoded once.
type flushItem struct {
	e       *entry
	d       wire
	payload []byte
}

// send takes the local delta of each entry and sends it: queued for gossip
// (the outbox), and on the fast path packed into packets sent straight to
// every member, or in a burst over the stream instead (see burstPackets).
// Each delta is encoded once; a delta too large for a packet goes to the
// stream sender, which sends it off this goroutine. The work is linear in
// the number of entries. It stops early, counting what it leaves, when the
// node stops or deadline (if set) passes.
func (n *Node) send(entries []*entry, deadline time.Time) {
	if len(entries) == 0 {
		return
	}
	alone := n.numMembers() <= 1
	items, size := n.takeDeltas(entries, deadline, alone)
	if len(items) == 0 {
		return
	}
	// Subscribers hear of a flushed change once it is queued and sent.
	defer func() {
		for _, it := range items {
			it.e.changed()
		}
	}()
	fast := n.fastPath()
	if fast && size > burstPackets*n.maxPkt {
		n.sendBurst(items)
		return
	}
	now := n.now()
	// Past the fast path, the broadcast tree carries the deltas.
	tree := !fast && n.tree != nil
	var treeEnvs []codec.Envelope
	var direct directBatch
	var large [][]byte
	for _, it := range items {
		e := it.e
		queued, err := n.out.add(now, e, n.self, it.d, it.payload)
		if err != nil {
			n.log.Error("encode delta", "value", e.name, "err", err)
			continue
		}
		if queued && !fast && !tree {
			continue
		}
		env := codec.Envelope{Kind: kindDirect, Name: e.name, Type: e.typeName, Origin: n.self, Payload: it.payload}
		if !queued {
			// Too large for a packet: it goes to every member over the
			// reliable stream, whatever the cluster size.
			msg, err := n.codec.EncodeEnvelope(&env)
			if err != nil {
				n.log.Error("encode delta", "value", e.name, "err", err)
				continue
			}
			large = append(large, msg)
			continue
		}
		if tree {
			env.Kind = codec.KindDelta
			treeEnvs = append(treeEnvs, env)
			continue
		}
		if err := direct.add(n.codec, &env); err != nil {
			n.log.Error("encode delta", "value", e.name, "err", err)
		}
	}
	if len(treeEnvs) > 0 {
		n.tree.broadcast(treeEnvs)
	}
	if len(direct.ends) == 0 && len(large) == 0 {
		return
	}
	packets, oversized, err := pack(n.codec, direct.envelopes(), n.maxPkt)
	if err != nil {
		n.log.Error("pack deltas", "err", err)
		return
	}
	peers := n.members.peers()
	for _, msg := range append(large, oversized...) {
		n.streams.send([][]byte{msg}, peers)
	}
	n.sendPackets(packets, peers, deadline)
}

// takeDeltas takes and encodes the local delta of each entry, and returns
// them with their encoded size; the caller signals their subscribers. It
// stops early, counting what it leaves, when the node stops or deadline
// (if set) passes. A node alone takes the deltas (they are in its state; a
// joiner gets the full state), encodes nothing and returns none.
func (n *Node) takeDeltas(entries []*entry, deadline time.Time, alone bool) ([]flushItem, int) {
	var items []flushItem
	if !alone {
		items = make([]flushItem, 0, len(entries))
	}
	size := 0
	// The payloads are appended to shared chunks: encoding a burst's
	// 5,000 deltas then allocates a few chunks, not 5,000 slices. They
	// live only as long as the flush (what keeps a delta copies it).
	var arena []byte
	chunk := flushChunkFirst
	for i, e := range entries {
		if i%flushCheckEvery == flushCheckEvery-1 && n.expired(deadline) {
			reason := dropLeaveTimeout
			if deadline.IsZero() {
				reason = dropFlushStopped
			}
			n.stats.dropN(reason, len(entries)-i)
			break
		}
		e.mu.Lock()
		if e.gone.Load() {
			e.mu.Unlock()
			continue // unshared after it was taken from the dirty list
		}
		if e.prepare != nil {
			e.prepare()
		}
		d, ok := e.a.takeDelta()
		e.mu.Unlock()
		if !ok {
			continue
		}
		if alone {
			e.changed() // no one to tell; a joiner gets the full state
			continue
		}
		if cap(arena) < flushChunkMin {
			arena = make([]byte, 0, chunk)
			chunk = min(2*chunk, flushChunk)
		}
		payload, err := e.a.encode(n.codec, arena, d)
		if err != nil {
			e.changed()
			n.log.Error("encode delta", "value", e.name, "err", err)
			continue
		}
		// A payload larger than the chunk's room was appended to an
		// array of its own; the rest of the chunk stays for the next.
		if cap(payload) == cap(arena) {
			arena = payload[len(payload):]
		}
		payload = payload[:len(payload):len(payload)]
		items = append(items, flushItem{e: e, d: d, payload: payload})
		size += len(payload) + len(e.name) + len(e.typeName) + 16
	}
	return items, size
}

// sendBurst sends items to every member over the reliable stream, as
// packs (kindPack): one envelope per type and at most burstPartBytes,
// each carrying many values' payloads under one type and origin. A value
// too large for a part of its own goes alone, as a kindBurst envelope.
// Nothing is queued for gossip: see burstPackets.
func (n *Node) sendBurst(items []flushItem) {
	limit := min(burstPartBytes, n.cfg.MaxMessageBytes)
	// Values of one type go together; the caller needs items only as a
	// set (to tell subscribers).
	slices.SortStableFunc(items, func(a, b flushItem) int { return strings.Compare(a.e.typeName, b.e.typeName) })
	var parts [][]byte
	for start := 0; start < len(items); {
		typ := items[start].e.typeName
		end := start
		for end < len(items) && items[end].e.typeName == typ {
			end++
		}
		parts = n.appendPacks(parts, items[start:end], typ, limit)
		start = end
	}
	n.streams.sendKind(kindPack, parts, n.members.peers())
}

// appendPacks appends to parts the messages carrying items, all of type
// typ: packs of at most limit bytes, in order, and a kindBurst envelope of
// its own for a value whose entry alone would not fit.
func (n *Node) appendPacks(parts [][]byte, items []flushItem, typ string, limit int) [][]byte {
	// The pack envelope's own fields, beside its payload: map head,
	// version, kind, type, origin, incarnation and the payload's head,
	// each with its key (codec/envelope.go).
	budget := limit - (len(typ) + len(n.self.Node) + 64)
	emit := func(batch []flushItem, total int) {
		if len(batch) == 0 {
			return
		}
		pack := codec.AppendPackHead(make([]byte, 0, codec.PackSize(len(batch), total)), len(batch))
		for _, it := range batch {
			var err error
			if pack, err = codec.AppendPackEntry(pack, it.e.name, it.payload); err != nil {
				n.log.Error("encode burst", "value", it.e.name, "err", err)
				return // names are checked below: this is a bug, and the pack's count would be wrong
			}
		}
		env := codec.Envelope{Kind: kindPack, Type: typ, Origin: n.self, Payload: pack}
		msg, err := n.codec.EncodeEnvelope(&env)
		if err != nil {
			n.log.Error("encode burst", "type", typ, "values", len(batch), "err", err)
			return
		}
		parts = append(parts, msg)
	}
	start, total := 0, 0
	for i, it := range items {
		size := codec.PackEntrySize(it.e.name, it.payload)
		if !utf8.ValidString(it.e.name) || codec.PackSize(1, size) > budget {
			// Alone, as an envelope (which refuses a name that is not
			// UTF-8, as a pack would).
			emit(items[start:i], total)
			start, total = i+1, 0
			env := codec.Envelope{Kind: kindBurst, Name: it.e.name, Type: typ, Origin: n.self, Payload: it.payload}
			msg, err := n.codec.EncodeEnvelope(&env)
			if err != nil {
				n.log.Error("encode delta", "value", it.e.name, "err", err)
				continue
			}
			parts = append(parts, msg)
			continue
		}
		if codec.PackSize(i-start+1, total+size) > budget {
			emit(items[start:i], total)
			start, total = i, 0
		}
		total += size
	}
	emit(items[start:], total)
	return parts
}

// sendPackets sends every packet to every member, best effort (UDP): a
// lost packet is repaired by the receivers' relays and by anti-entropy.
// Like send, it stops when the node stops or deadline passes.
func (n *Node) sendPackets(packets [][]byte, to []*memberlist.Node, deadline time.Time) {
	sent := 0
	for _, m := range to {
		for _, p := range packets {
			if sent++; sent%flushCheckEvery == 0 && n.expired(deadline) {
				return
			}
			if err := n.ml.SendBestEffort(m, p); err != nil {
				n.log.Debug("direct send", "to", m.Name, "err", err)
				continue
			}
			n.stats.sent(kindDirect, len(p))
		}
	}
}

// expired reports whether the node is stopping or deadline (if set) has
// passed.
func (n *Node) expired(deadline time.Time) bool {
	select {
	case <-n.stop:
		return true
	default:
	}
	return !deadline.IsZero() && time.Now().After(deadline)
}

func (n *Node) fastPath() bool {
	return n.cfg.DirectSendMaxMembers > 0 && n.numMembers() <= n.cfg.DirectSendMaxMembers
}
