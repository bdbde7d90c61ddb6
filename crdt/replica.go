package crdt

import (
	"cmp"
	"strconv"
	"strings"
)

// Replica identifies one run of one node: the node's name and an
// incarnation, a number the node chooses at each start (a random number or
// its start time in nanoseconds). A node that restarts under the same name
// gets a fresh Replica, so its new increments live in a new slot and are
// never swallowed by the max-merge of the slot it used before.
//
// Replica is comparable (usable as a map key) and has a stable total order
// (Compare), used to break ties deterministically.
type Replica struct {
	Node        string `cbor:"1,keyasint"`
	Incarnation uint64 `cbor:"2,keyasint"`
}

// Compare orders replicas by node name, then incarnation. It returns -1, 0
// or +1 like cmp.Compare.
func (r Replica) Compare(o Replica) int {
	if c := strings.Compare(r.Node, o.Node); c != 0 {
		return c
	}
	return cmp.Compare(r.Incarnation, o.Incarnation)
}

// IsZero reports whether r is the zero Replica, which names no replica.
func (r Replica) IsZero() bool { return r.Node == "" && r.Incarnation == 0 }

// String returns "node#incarnation".
func (r Replica) String() string {
	return r.Node + "#" + strconv.FormatUint(r.Incarnation, 10)
}
