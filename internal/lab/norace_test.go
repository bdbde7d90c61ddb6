package lab

// raceEnabled reports whether the test binary has the race detector; the
// lab then builds labnode with it too.
var raceEnabled = false
