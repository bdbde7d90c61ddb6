package swarm

import (
	"fmt"
	"sync"

	"github.com/shoal-go/shoal/codec"
)

// Broadcast sends m to every live member now (not stored; not relayed).
// Members receive it on the channel of Messages. A message larger than a
// packet goes over the reliable stream, one member after another.
func (s *Swarm) Broadcast(m interface{}) error {
	if s.node.Closed() {
		return ErrClosed
	}
	raw, err := s.cd.EncodeAny(s.reg, m)
	if err != nil {
		return fmt.Errorf("shoal/swarm: broadcast: %w", err)
	}
	if len(raw) > s.maxBuf {
		return fmt.Errorf("shoal/swarm: broadcast: %d bytes exceed MaxMessageBuffer %d", len(raw), s.maxBuf)
	}
	if err := s.node.sendToMembers(codec.KindBroadcast, raw); err != nil {
		return fmt.Errorf("shoal/swarm: broadcast: %w", err)
	}
	return nil
}

// Messages returns a channel of the values peers Broadcast, and a function
// that cancels the subscription and closes the channel. A message that
// finds the channel's buffer full is dropped (and counted in
// Stats.Dropped): the gossip path never waits for the reader.
func (s *Swarm) Messages(buffer int) (<-chan *Message, func()) {
	if buffer < 1 {
		buffer = 1
	}
	ch := make(chan *Message, buffer)
	s.msgMu.Lock()
	s.msgSubs[ch] = struct{}{}
	s.msgMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.msgMu.Lock()
			delete(s.msgSubs, ch)
			s.msgMu.Unlock()
			close(ch)
		})
	}
}

// receiveBroadcast is the node's handler for KindBroadcast.
func (s *Swarm) receiveBroadcast(env *codec.Envelope) {
	v, err := s.cd.DecodeAny(s.reg, env.Payload)
	if err != nil {
		s.node.countReject(rejectDecode)
		s.node.warnLimited(rejectDecode, "dropped a broadcast that does not decode", "origin", env.Origin.String(), "err", err)
		return
	}
	m := &Message{Source: env.Origin.Node, Value: v}
	s.msgMu.Lock()
	defer s.msgMu.Unlock()
	for ch := range s.msgSubs {
		select {
		case ch <- m:
		default:
			s.node.countDrop(dropSlowBroadcast)
		}
	}
}
