package swarm

import (
	"sync"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-go/shoal/codec"
)

// Bounds of the stream sender. A send takes at most TCPTimeout (the
// transport's deadline), so a member that stopped reading holds at most
// streamPerMember workers for that long, and the others keep going.
const (
	streamWorkers   = 4    // sends in flight at once
	streamPerMember = 2    // sends queued or in flight to one member
	streamMaxJobs   = 1024 // sends queued in all
)

// Reasons for Stats.Drops of the stream sender. Each message dropped is
// left to anti-entropy.
const (
	dropStreamBacklog = "stream_backlog"      // the sender's queue was full (jobs or bytes)
	dropStreamMember  = "stream_member_slow"  // the member already had streamPerMember sends pending
	dropStreamFailed  = "stream_send_failed"  // the send failed or timed out
	dropStreamStopped = "stream_send_stopped" // the node stopped before the send
)

// streamSender sends messages too large for a packet (large deltas and
// bursts) over memberlist's reliable stream, one send per (message,
// member), on its own workers: the flusher only queues, so a slow or half-dead member never
// delays a flush. The queue is bounded in sends and in bytes (a message
// queued for several members counts once); what does not fit is dropped
// and counted.
type streamSender struct {
	n        *Node
	jobs     chan streamJob
	maxBytes int

	mu       sync.Mutex
	bytes    int            // distinct message bytes queued or in flight
	perPeer  map[string]int // sends queued or in flight, by member name
	inFlight int            // sends queued or in flight
	idle     chan struct{}  // closed while inFlight is 0; replaced when it rises
}

type streamJob struct {
	to  *memberlist.Node
	msg *streamMsg
}

// streamMsg is one message shared by its sends: its parts go one after
// another, each a stream of its own (memberlist dials one per send).
// refs counts the sends not done.
type streamMsg struct {
	parts [][]byte
	size  int
	refs  int
	kind  codec.Kind // what Stats.Sent counts it as
}

func newStreamSender(n *Node, maxBytes int) *streamSender {
	s := &streamSender{
		n:        n,
		jobs:     make(chan streamJob, streamMaxJobs),
		maxBytes: maxBytes,
		perPeer:  make(map[string]int),
		idle:     make(chan struct{}),
	}
	close(s.idle)
	return s
}

// start runs the workers; they end when the node stops.
func (s *streamSender) start() {
	for range streamWorkers {
		s.n.wg.Add(1)
		go s.work()
	}
}

// send queues the message made of parts for every member in to. It never
// blocks.
func (s *streamSender) send(parts [][]byte, to []*memberlist.Node) {
	s.sendKind(kindDirect, parts, to)
}

// sendKind is send, counting the message in Stats.Sent as kind.
func (s *streamSender) sendKind(kind codec.Kind, parts [][]byte, to []*memberlist.Node) {
	if len(to) == 0 || len(parts) == 0 {
		return
	}
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+size > s.maxBytes {
		s.n.stats.dropN(dropStreamBacklog, len(to))
		s.n.warnLimited(dropStreamBacklog, "large deltas queued beyond the stream sender's bound; anti-entropy will carry them", "bytes", size, "queued_bytes", s.bytes)
		return
	}
	m := &streamMsg{parts: parts, size: size, kind: kind}
	for _, mem := range to {
		if s.perPeer[mem.Name] >= streamPerMember {
			s.n.stats.drop(dropStreamMember)
			s.n.warnLimited(dropStreamMember, "a member is slow to take large deltas; anti-entropy will carry them", "to", mem.Name)
			continue
		}
		select {
		case s.jobs <- streamJob{to: mem, msg: m}:
		default:
			s.n.stats.drop(dropStreamBacklog)
			continue
		}
		if m.refs == 0 {
			s.bytes += size
		}
		m.refs++
		s.perPeer[mem.Name]++
		if s.inFlight == 0 {
			s.idle = make(chan struct{})
		}
		s.inFlight++
	}
}

func (s *streamSender) work() {
	defer s.n.wg.Done()
	for {
		select {
		case <-s.n.stop:
			s.abandon()
			return
		case j := <-s.jobs:
			s.deliver(j)
		}
	}
}

func (s *streamSender) deliver(j streamJob) {
	select {
	case <-s.n.stop:
		s.n.stats.drop(dropStreamStopped)
	default:
		for _, p := range j.msg.parts {
			if err := s.n.ml.SendReliable(j.to, p); err != nil {
				s.n.stats.drop(dropStreamFailed)
				s.n.warnLimited(dropStreamFailed, "reliable send of a large delta or a burst", "to", j.to.Name, "bytes", len(p), "err", err)
				break
			}
			s.n.stats.sent(j.msg.kind, len(p))
		}
	}
	s.done(j)
}

// abandon counts the sends still queued when the node stops.
func (s *streamSender) abandon() {
	for {
		select {
		case j := <-s.jobs:
			s.n.stats.drop(dropStreamStopped)
			s.done(j)
		default:
			return
		}
	}
}

func (s *streamSender) done(j streamJob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.msg.refs--; j.msg.refs == 0 {
		s.bytes -= j.msg.size
	}
	if s.perPeer[j.to.Name]--; s.perPeer[j.to.Name] == 0 {
		delete(s.perPeer, j.to.Name)
	}
	if s.inFlight--; s.inFlight == 0 {
		close(s.idle)
	}
}

// drained returns a channel closed when no send is queued or in flight.
func (s *streamSender) drained() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle
}
