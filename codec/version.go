package codec

import (
	"fmt"
	"slices"
)

// Version is the protocol version this build writes into every envelope.
//
// Rolling-upgrade rule: a compatible change (a new envelope key, a new
// Kind, a new type tag) keeps the version, because readers skip keys they
// do not know and hand unknown kinds to the caller. Only an incompatible
// change raises it, and a build that introduces version N+1 must still
// read N and must be able to write N until every node of the cluster reads
// N+1.
const Version = 1

// SupportedVersions returns the protocol versions this build reads, in
// ascending order. The slice is fresh on each call.
func SupportedVersions() []uint16 { return []uint16{1} }

// checkVersion returns nil when v is a version this build reads, else an
// error wrapping ErrVersion that lists the versions it reads.
func checkVersion(v uint64) error {
	if v == Version {
		return nil
	}
	supported := SupportedVersions()
	if v <= 0xffff && slices.Contains(supported, uint16(v)) {
		return nil
	}
	return fmt.Errorf("%w %d (this build reads %v)", ErrVersion, v, supported)
}
