//go:build !race

package swarmtest

// faultRaceEnabled reports whether the race detector is on; it slows
// memberlist several times over, so the largest cluster test shrinks.
const faultRaceEnabled = false
