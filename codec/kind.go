package codec

import "strconv"

// Kind says what an envelope's payload is. Kind 0 is reserved (it is the
// zero value, so an envelope whose Kind was never set is rejected). Kinds
// this build does not name decode without error: the caller decides what to
// do with them, so a newer node can introduce a kind without breaking older
// ones.
type Kind uint8

// The kinds shoal uses. Values 5 to 255 are free for other packages;
// swarm uses 5, 6 and 9 to 12 internally.
const (
	// KindDelta carries a delta state: the changes of one replica since
	// its previous delta.
	KindDelta Kind = 1
	// KindState carries a full state, as exchanged by anti-entropy.
	KindState Kind = 2
	// KindBroadcast carries a user broadcast (not a CRDT state).
	KindBroadcast Kind = 3
	// 4 was KindClassic, declared for the classic adapter but never sent
	// (classic keys travel as deltas and states, classic broadcasts as
	// KindBroadcast). Do not reuse it.
)

// String returns the kind's name, or "Kind(n)" for a kind this build does
// not name.
func (k Kind) String() string {
	switch k {
	case KindDelta:
		return "delta"
	case KindState:
		return "state"
	case KindBroadcast:
		return "broadcast"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}
