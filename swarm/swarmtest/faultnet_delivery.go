package swarmtest

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// scheduledPacket is a packet waiting out its delay in a Network's queue.
type scheduledPacket struct {
	due  time.Time
	seq  uint64
	from *Transport
	to   *Transport
	buf  []byte
}

// before orders packets by due time, then by send order.
func (p *scheduledPacket) before(q *scheduledPacket) bool {
	if !p.due.Equal(q.due) {
		return p.due.Before(q.due)
	}
	return p.seq < q.seq
}

// deliveryQueue is a binary min-heap of scheduled packets by due time. It is
// written out rather than built on container/heap so that pushing and
// popping values costs no allocation.
type deliveryQueue []scheduledPacket

// push adds p and reports whether it became the earliest packet.
func (q *deliveryQueue) push(p scheduledPacket) bool {
	*q = append(*q, p)
	h := *q
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !h[i].before(&h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
	return i == 0
}

// pop removes and returns the earliest packet; the queue must not be empty.
func (q *deliveryQueue) pop() scheduledPacket {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = scheduledPacket{} // let the buffer be collected
	h = h[:last]
	i := 0
	for {
		l, r, least := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].before(&h[least]) {
			least = l
		}
		if r < len(h) && h[r].before(&h[least]) {
			least = r
		}
		if least == i {
			break
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
	*q = h
	return top
}

// send carries one packet from a transport to addr, applying the current
// faults. It never blocks on the receiver. Like UDP, it reports no error for
// a packet that is lost; it fails only when the network is closed.
func (n *Network) send(from *Transport, b []byte, to memberlist.Address) error {
	n.stats.sent.Add(1)
	n.mu.RLock()
	closed := n.closed
	dest := n.lookupLocked(to)
	reachable := dest != nil && n.reachableLocked(from.name, dest.name)
	n.mu.RUnlock()
	switch {
	case closed:
		n.stats.undeliverable.Add(1)
		return fmt.Errorf("send to %s: %w", to.Addr, ErrNetworkClosed)
	case dest == nil:
		n.stats.undeliverable.Add(1)
		return nil
	case !reachable:
		n.stats.partitioned.Add(1)
		return nil
	}
	plan := from.plan(n.faults.Load())
	if plan.drop {
		n.stats.dropped.Add(1)
		return nil
	}
	if plan.copies == 2 {
		n.stats.duplicated.Add(1)
	}
	for _, delay := range plan.delay[:plan.copies] {
		buf := append([]byte(nil), b...)
		if delay <= 0 {
			n.deliver(from, dest, buf, false)
		} else {
			n.schedule(from, dest, buf, delay)
		}
	}
	return nil
}

// schedule queues a packet for delivery after delay.
func (n *Network) schedule(from, dest *Transport, buf []byte, delay time.Duration) {
	n.qmu.Lock()
	if n.qclosed {
		n.qmu.Unlock()
		n.stats.undeliverable.Add(1)
		return
	}
	n.seq++
	n.stats.inFlight.Add(1)
	first := n.queue.push(scheduledPacket{
		due:  time.Now().Add(delay),
		seq:  n.seq,
		from: from,
		to:   dest,
		buf:  buf,
	})
	n.qmu.Unlock()
	if first {
		select {
		case n.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// deliver puts a packet on dest's packet channel without blocking.
// scheduled says the packet is counted in flight: it leaves the count once
// its outcome is counted.
func (n *Network) deliver(from, dest *Transport, buf []byte, scheduled bool) {
	landed := func() {
		if scheduled {
			n.stats.inFlight.Add(-1)
		}
	}
	if dest.isShutdown() {
		n.stats.undeliverable.Add(1)
		landed()
		return
	}
	p := &memberlist.Packet{Buf: buf, From: from.addr, Timestamp: time.Now()}
	// Count before the send, so that a receiver holding the packet always
	// sees it counted and out of flight; take it back if the receiver's
	// buffer is full. (Leaving flight after the send, a receiver that had
	// taken the last packet could still read one in flight.)
	n.stats.delivered.Add(1)
	landed()
	select {
	case dest.packetCh <- p:
	default:
		n.stats.delivered.Add(^uint64(0))
		n.stats.overflowed.Add(1)
	}
}

// deliveryLoop hands delayed packets to their receivers when they fall due.
// It is the only goroutine a Network owns; Close stops it.
func (n *Network) deliveryLoop() {
	defer n.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due []scheduledPacket
	for {
		n.qmu.Lock()
		if n.qclosed {
			n.qmu.Unlock()
			return
		}
		now := time.Now()
		due = due[:0]
		for len(n.queue) > 0 && !n.queue[0].due.After(now) {
			due = append(due, n.queue.pop())
		}
		wait := time.Duration(-1)
		if len(n.queue) > 0 {
			wait = n.queue[0].due.Sub(now)
		}
		n.qmu.Unlock()

		if len(due) > 0 {
			// A partition made while a packet was in flight loses it.
			n.mu.RLock()
			for i := range due {
				if !n.reachableLocked(due[i].from.name, due[i].to.name) {
					due[i].to = nil
				}
			}
			n.mu.RUnlock()
		}
		for i := range due {
			if due[i].to == nil {
				n.stats.partitioned.Add(1)
				n.stats.inFlight.Add(-1)
			} else {
				n.deliver(due[i].from, due[i].to, due[i].buf, true)
			}
			due[i] = scheduledPacket{}
		}
		if len(due) > 0 {
			// Delivering took time; look at the clock again before sleeping.
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-n.done:
			return
		case <-n.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}
