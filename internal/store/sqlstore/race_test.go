//go:build race

package sqlstore

// raceEnabled reports whether the race detector is on; it slows the
// transpiled SQLite engine by an order of magnitude.
const raceEnabled = true
