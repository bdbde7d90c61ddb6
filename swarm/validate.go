package swarm

import (
	"errors"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// Reasons for Stats.Rejected given by the merge-time checks (see
// "Validation" in docs/DESIGN.md).
const (
	rejectCountCeiling     = "slot_ceiling"        // a count above Config.MaxCount
	rejectCountStep        = "slot_step"           // a delta raising a count by more than Config.MaxCountStep
	rejectTooManyReplicas  = "too_many_replicas"   // a merge that would pass Config.MaxReplicas
	rejectForeignSlot      = "foreign_slot"        // a delta writing another replica's slot
	rejectClassicNotMember = "classic_not_member"  // a classic entry of a node that is not a live member
	rejectClassicInc       = "classic_incarnation" // a classic entry at an incarnation its node did not announce
)

// Reason for Stats.Drops: local counts above Config.MaxCount (a state
// poisoned before the ceiling was enforced) dropped, to be taken back at
// their true value from the peer's state.
const dropPoisoned = "poisoned_count"

var (
	// errClassicNotMember is returned when a classic entry names a node
	// that is not a live member.
	errClassicNotMember = errors.New("classic entry of a node that is not a live member")
	// errClassicIncarnation is returned when a classic entry carries an
	// incarnation its node does not announce.
	errClassicIncarnation = errors.New("classic entry at an incarnation its node did not announce")
)

// bounds returns the merge-time bounds of the configuration.
func (c *Config) bounds() crdt.Bounds {
	return crdt.Bounds{MaxCount: c.MaxCount, MaxStep: c.MaxCountStep, MaxReplicas: c.MaxReplicas}
}

// rejectReason names the rule err broke, for Stats.Rejected.
func rejectReason(err error) string {
	switch {
	case errors.Is(err, crdt.ErrCountCeiling):
		return rejectCountCeiling
	case errors.Is(err, crdt.ErrCountStep):
		return rejectCountStep
	case errors.Is(err, crdt.ErrTooManyReplicas):
		return rejectTooManyReplicas
	case errors.Is(err, crdt.ErrForeignWrite):
		return rejectForeignSlot
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
