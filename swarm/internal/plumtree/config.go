package plumtree

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig is returned by New for a configuration it cannot run
// with; the error names the field.
var ErrInvalidConfig = errors.New("shoal/plumtree: invalid config")

// ErrInvalidMessage is returned by Step for a message that cannot be from
// a correct peer (no sender, unknown kind, no id where one is needed).
var ErrInvalidMessage = errors.New("shoal/plumtree: invalid message")

// Config configures a Tree. Every field must be set (DefaultConfig fills
// the durations and bounds; Self and Origin are the caller's).
type Config struct {
	// Self is this node's name as peers address it.
	Self Peer
	// Origin names this node's own broadcasts (IDs); it must differ
	// between runs of the same node (shoal uses the replica:
	// name and incarnation).
	Origin string
	// GraftTimeout is how long an announced id may stay missing before
	// the node grafts the announcer (the paper's timeout1). It should
	// exceed the eager path's usual delay, or lost races cause grafts.
	GraftTimeout time.Duration
	// MaxGraftTimeout caps the graft timeout, which rises above
	// GraftTimeout when grafts prove spurious (the tree's copy came
	// anyway, late: a loaded machine or a deep tree) and decays back
	// when they stop.
	MaxGraftTimeout time.Duration
	// GraftRetry is how long a graft may go unanswered before the next
	// announcer is grafted (the paper's timeout2). The announcers are
	// grafted in turn, and again from the first after the last, so a
	// lost graft or a lost answer is retried.
	GraftRetry time.Duration
	// MaxGraftRetry caps the wait between grafts, which doubles after each
	// round over the announcers: a node too busy to answer in GraftRetry
	// (a loaded machine, a burst of thousands of ids) is asked less often,
	// not more, and has seconds, not GraftRetry·MaxGrafts, to answer
	// before the id is given up.
	MaxGraftRetry time.Duration
	// MaxGrafts bounds the grafts sent for one missing id; after them
	// (or when no announcer is left) it is given up to anti-entropy.
	MaxGrafts int
	// ReannounceAfter is how long a lazy peer that was told of an id may
	// stay silent about it before it is told again. On a lazy link both
	// ends announce every broadcast, so the peer's own announcement (or
	// its push, or its graft) is the acknowledgement; silence means the
	// announcement, or the peer's copy, was lost. A repeated
	// announcement is answered by an IHave of the ids the receiver has.
	// Zero disables repeating.
	ReannounceAfter time.Duration
	// MaxReannounces bounds how often one id is told again to one peer.
	MaxReannounces int
	// MaxUnacked bounds the announcements waiting for their answer.
	MaxUnacked int
	// LazyInterval batches announcements: IHaves leave at most this long
	// after the first id they carry was received.
	LazyInterval time.Duration
	// Retention is how long a received id is remembered (and so not
	// delivered twice).
	Retention time.Duration
	// MaxCacheBytes bounds the payloads kept to answer grafts.
	MaxCacheBytes int
	// MaxRecords bounds the ids remembered (received within Retention).
	MaxRecords int
	// MaxMissing bounds the announced ids waiting for their broadcast.
	MaxMissing int
	// MaxAnnouncements bounds the ids in one IHave message; more leave
	// in several messages.
	MaxAnnouncements int
	// LazyFanout, when positive, announces each broadcast to at most this
	// many lazy peers (a different subset per broadcast) instead of all of
	// them: announcements are most of the tree's traffic once the eager
	// links form a tree, and a few announcers per node are enough to
	// repair a lost push.
	LazyFanout int
	// MaxOrigins bounds the origins whose broadcast trees a node keeps
	// (about 110 bytes each, a bitset of the neighbours: see
	// BenchmarkOriginTrees); past it the least recently used is
	// forgotten, and that origin's next broadcast floods the links once
	// and forms its tree again.
	MaxOrigins int
	// MaxNeighbours bounds the neighbours (own view and peers that
	// linked to this node); each costs a bit in every origin's tree.
	// The own view is always taken.
	MaxNeighbours int
	// OriginRetention is how long an origin's tree is kept after its
	// last broadcast passed through this node.
	OriginRetention time.Duration
	// HelloInterval is how often a node tells its view it is their
	// neighbour (Hello): a fallback for a neighbour that dropped this
	// node and was not told it is back (PeerUp re-links the usual case,
	// a false failure, at once). Every Hello is a packet to each view
	// member, so it is most of an idle tree's traffic.
	HelloInterval time.Duration
}

// DefaultConfig returns a Config with every bound and duration set, for a
// LAN: grafts after 50 ms (more, up to 1 s, while grafts prove spurious; up to 16 of them, 50 ms apart over the first
// round of announcers, doubling after each round up to 2 s), announcements
// batched for 20 ms and repeated after 100 ms of silence (up to 3 times),
// ids kept for a minute, 8 MiB of payloads, the trees of 4,096 origins
// kept up to 10 minutes after their last broadcast, a Hello every 10 s.
func DefaultConfig(self Peer, origin string) Config {
	return Config{
		Self:             self,
		Origin:           origin,
		GraftTimeout:     50 * time.Millisecond,
		MaxGraftTimeout:  time.Second,
		GraftRetry:       50 * time.Millisecond,
		MaxGraftRetry:    2 * time.Second,
		MaxGrafts:        16,
		ReannounceAfter:  100 * time.Millisecond,
		MaxReannounces:   3,
		MaxUnacked:       1 << 14,
		LazyInterval:     20 * time.Millisecond,
		Retention:        time.Minute,
		MaxCacheBytes:    8 << 20,
		MaxRecords:       1 << 17,
		MaxMissing:       1 << 14,
		MaxAnnouncements: 64,
		MaxOrigins:       4096,
		MaxNeighbours:    64,
		OriginRetention:  10 * time.Minute,
		HelloInterval:    10 * time.Second,
	}
}

func (c *Config) validate() error {
	switch {
	case c.Self == "":
		return fmt.Errorf("%w: Self is empty", ErrInvalidConfig)
	case c.Origin == "":
		return fmt.Errorf("%w: Origin is empty", ErrInvalidConfig)
	case c.GraftTimeout <= 0:
		return fmt.Errorf("%w: GraftTimeout %v must be positive", ErrInvalidConfig, c.GraftTimeout)
	case c.MaxGraftTimeout < c.GraftTimeout:
		return fmt.Errorf("%w: MaxGraftTimeout %v is below GraftTimeout %v", ErrInvalidConfig, c.MaxGraftTimeout, c.GraftTimeout)
	case c.GraftRetry <= 0:
		return fmt.Errorf("%w: GraftRetry %v must be positive", ErrInvalidConfig, c.GraftRetry)
	case c.MaxGraftRetry < c.GraftRetry:
		return fmt.Errorf("%w: MaxGraftRetry %v is below GraftRetry %v", ErrInvalidConfig, c.MaxGraftRetry, c.GraftRetry)
	case c.MaxGrafts <= 0:
		return fmt.Errorf("%w: MaxGrafts %d must be positive", ErrInvalidConfig, c.MaxGrafts)
	case c.ReannounceAfter < 0:
		return fmt.Errorf("%w: ReannounceAfter %v must not be negative", ErrInvalidConfig, c.ReannounceAfter)
	case c.ReannounceAfter > 0 && c.MaxReannounces <= 0:
		return fmt.Errorf("%w: MaxReannounces %d must be positive when ReannounceAfter is set", ErrInvalidConfig, c.MaxReannounces)
	case c.ReannounceAfter > 0 && c.MaxUnacked <= 0:
		return fmt.Errorf("%w: MaxUnacked %d must be positive when ReannounceAfter is set", ErrInvalidConfig, c.MaxUnacked)
	case c.LazyInterval <= 0:
		return fmt.Errorf("%w: LazyInterval %v must be positive", ErrInvalidConfig, c.LazyInterval)
	case c.Retention <= 0:
		return fmt.Errorf("%w: Retention %v must be positive", ErrInvalidConfig, c.Retention)
	case c.MaxCacheBytes < 0:
		return fmt.Errorf("%w: MaxCacheBytes %d must not be negative", ErrInvalidConfig, c.MaxCacheBytes)
	case c.MaxRecords <= 0:
		return fmt.Errorf("%w: MaxRecords %d must be positive", ErrInvalidConfig, c.MaxRecords)
	case c.MaxMissing <= 0:
		return fmt.Errorf("%w: MaxMissing %d must be positive", ErrInvalidConfig, c.MaxMissing)
	case c.MaxAnnouncements <= 0:
		return fmt.Errorf("%w: MaxAnnouncements %d must be positive", ErrInvalidConfig, c.MaxAnnouncements)
	case c.LazyFanout < 0:
		return fmt.Errorf("%w: LazyFanout %d must not be negative", ErrInvalidConfig, c.LazyFanout)
	case c.MaxOrigins <= 0:
		return fmt.Errorf("%w: MaxOrigins %d must be positive", ErrInvalidConfig, c.MaxOrigins)
	case c.MaxNeighbours <= 0:
		return fmt.Errorf("%w: MaxNeighbours %d must be positive", ErrInvalidConfig, c.MaxNeighbours)
	case c.OriginRetention <= 0:
		return fmt.Errorf("%w: OriginRetention %v must be positive", ErrInvalidConfig, c.OriginRetention)
	case c.HelloInterval <= 0:
		return fmt.Errorf("%w: HelloInterval %v must be positive", ErrInvalidConfig, c.HelloInterval)
	}
	return nil
}
