//go:build !race

package swarm_test

// raceEnabled reports whether the test binary has the race detector (see
// race_test.go).
const raceEnabled = false
