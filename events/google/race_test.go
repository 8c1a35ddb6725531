//go:build race

package google_test

// The race detector makes decoding about ten times slower; the tests
// that read many records read fewer under it.
const raceEnabled = true
