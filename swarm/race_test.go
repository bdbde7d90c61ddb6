//go:build race

package swarm_test

// raceEnabled reports whether the test binary has the race detector, which
// slows every node five- to tenfold: tests that load the machine on
// purpose run fewer nodes under it.
const raceEnabled = true
