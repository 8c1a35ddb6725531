//go:build race

package projector

// raceEnabled is set under the race detector, which slows folding and
// Badger about tenfold; the largest generated logs are then cut down.
const raceEnabled = true
