//go:build race

package loadgen

// raceEnabled reports whether the race detector is on: it makes
// sync.Pool drop items at random, so allocation counts vary run to run.
const raceEnabled = true
