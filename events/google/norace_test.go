//go:build !race

package google_test

const raceEnabled = false
