// Package eventstest holds test helpers: a real Badger log in a temporary
// directory and a real Mosquitto broker on a free loopback port. Import it
// from _test.go files only.
package eventstest

import (
	"testing"

	"tracker/events/badgerlog"
)

// OpenLog opens an event log in t.TempDir(), closed in t.Cleanup.
// Closing the log earlier (to make appends fail) is fine.
func OpenLog(t testing.TB) *badgerlog.Log {
	t.Helper()
	return OpenLogWith(t, badgerlog.Options{})
}

// OpenLogWith is OpenLog with log options (OnBatch for benchmarks, small
// queues, ...).
func OpenLogWith(t testing.TB, opts badgerlog.Options) *badgerlog.Log {
	t.Helper()
	l, err := badgerlog.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("eventstest: open log: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("eventstest: close log: %v", err)
		}
	})
	return l
}
