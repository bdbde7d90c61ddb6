package swarm

import (
	"errors"
	"fmt"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// Reasons for Stats.Rejected given by the merge-time checks (see
// "Validation" in docs/DESIGN.md).
const (
	rejectCountCeiling     = "slot_ceiling"        // a count above Config.MaxCount
	rejectCountStep        = "slot_step"           // a delta raising a count by more than Config.MaxCountStep
	rejectFutureTime       = "future_time"         // a retirement record stamped beyond the skew cap
	rejectTooManyReplicas  = "too_many_replicas"   // a merge that would pass Config.MaxReplicas
	rejectForeignSlot      = "foreign_slot"        // a delta writing another replica's slot
	rejectOriginNotMember  = "origin_not_member"   // a delta whose origin is no member's announced replica
	rejectOriginSuperseded = "origin_superseded"   // a delta of an earlier run than the member's, past the grace
	rejectClassicNotMember = "classic_not_member"  // a classic entry of a node that is not a live member
	rejectClassicInc       = "classic_incarnation" // a classic entry at an incarnation its node did not announce
)

// Reason for Stats.Drops: local counts above Config.MaxCount (a state
// poisoned before the ceiling was enforced) dropped, to be taken back at
// their true value from the peer's state.
const dropPoisoned = "poisoned_count"

var (
	// errOriginNotMember is returned when a delta's origin is not the
	// replica a member (alive or departed) announced.
	errOriginNotMember = errors.New("delta from a replica no member announced")
	// errOriginUnannounced is errOriginNotMember for an origin that may
	// still be announced: a name no member has, or a later incarnation
	// of a member's. Such a delta is held (earlyStore), not refused.
	errOriginUnannounced = fmt.Errorf("%w yet", errOriginNotMember)
	// errOriginSuperseded is returned for a delta of an earlier run of a
	// member's name than the one it announces, once the grace for the
	// run it replaced has passed.
	errOriginSuperseded = errors.New("delta from an earlier run than the member announces")
	// errClassicNotMember is returned when a classic entry names a node
	// that is not a live member.
	errClassicNotMember = errors.New("classic entry of a node that is not a live member")
	// errClassicIncarnation is returned when a classic entry carries an
	// incarnation its node does not announce.
	errClassicIncarnation = errors.New("classic entry at an incarnation its node did not announce")
)

// bounds returns the merge-time bounds of the configuration at now: no
// wall-clock time in a message may be more than crdt.DefaultMaxSkew ahead.
func (c *Config) bounds(now time.Time) crdt.Bounds {
	return crdt.Bounds{MaxCount: c.MaxCount, MaxStep: c.MaxCountStep, MaxReplicas: c.MaxReplicas,
		MaxTime: now.Add(crdt.DefaultMaxSkew).UnixNano()}
}

// rejectReason names the rule err broke, for Stats.Rejected.
func rejectReason(err error) string {
	switch {
	case errors.Is(err, crdt.ErrCountCeiling):
		return rejectCountCeiling
	case errors.Is(err, crdt.ErrCountStep):
		return rejectCountStep
	case errors.Is(err, crdt.ErrFutureTime):
		return rejectFutureTime
	case errors.Is(err, crdt.ErrTooManyReplicas):
		return rejectTooManyReplicas
	case errors.Is(err, crdt.ErrForeignWrite):
		return rejectForeignSlot
	case errors.Is(err, errOriginSuperseded):
		return rejectOriginSuperseded
	case errors.Is(err, errOriginNotMember):
		return rejectOriginNotMember
	case errors.Is(err, errClassicNotMember):
		return rejectClassicNotMember
	case errors.Is(err, errClassicIncarnation):
		return rejectClassicInc
	case errors.Is(err, ErrTypeMismatch):
		return rejectTypeMismatch
	}
	return rejectInvalid
}

// rejectValue counts and logs (rate-limited, per reason) one envelope the
// merge refused.
func (n *Node) rejectValue(env *codec.Envelope, err error, msg string) {
	reason := rejectReason(err)
	n.stats.reject(reason)
	n.warnLimited(reason, msg, "reason", reason, "value", env.Name, "origin", env.Origin.String(), "err", err)
}

// noteHealed counts the poisoned local counts a state merge dropped.
func (n *Node) noteHealed(e *entry, dropped int) {
	if dropped == 0 {
		return
	}
	for range dropped {
		n.stats.drop(dropPoisoned)
	}
	n.warnLimited(dropPoisoned, "dropped local counts above MaxCount; a peer's state restores them", "value", e.name, "counts", dropped)
	e.changed()
}

// checkOrigin accepts a delta's origin only if it is the replica a member
// of the table announced in its metadata: alive, failed or left (a
// departed member's last deltas may still be relayed), but never a name
// memberlist has not told us of, nor another incarnation of a known name.
// So one packet cannot add a made-up replica to a value; a full state
// still may (within MaxReplicas), since it legitimately carries replicas
// of earlier runs. A member's first deltas may race its announcement: an
// origin that may still be announced (an unknown name, or a later
// incarnation of a member's) is reported as errOriginUnannounced, and
// receive holds its delta until the announcement comes (early.go). And a
// member that restarts quickly is announced again while its previous
// run's last deltas (Leave's final flush, relayed) are still on their
// way: the run it replaced is accepted for earlyHold after that.
func (n *Node) checkOrigin(origin crdt.Replica) error {
	m, ok := n.members.get(origin.Node)
	switch {
	case ok && m.Replica == origin:
		return nil
	case !ok || m.Replica.IsZero() || m.Replica.Incarnation < origin.Incarnation:
		return fmt.Errorf("%w: %s", errOriginUnannounced, origin)
	case n.members.supersededLately(origin, n.now()):
		return nil
	}
	return fmt.Errorf("%w: %s, member %s runs %d", errOriginSuperseded, origin, origin.Node, m.Replica.Incarnation)
}

// earlyHold is how long a delta waits for its origin's announcement, and
// how long a member's previous run's deltas are still taken after its
// next run is announced.
func (n *Node) earlyHold() time.Duration {
	return earlyHoldGossips * n.cfg.GossipInterval
}
