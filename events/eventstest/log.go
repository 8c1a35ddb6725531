// Package eventstest holds test helpers: a real Badger log in a temporary
// directory and a real Mosquitto broker on a free loopback port. Import it
// from _test.go files only.
package eventstest

import (
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tracker/events/badgerlog"
)

// OpenLog opens a Badger database in t.TempDir() and an event log on it.
// Both are closed in t.Cleanup, the log first. Closing the log earlier
// (to make appends fail) is fine.
func OpenLog(t testing.TB) (*badgerlog.Log, *badger.DB) {
	t.Helper()
	return OpenLogWith(t, badgerlog.Options{})
}

// OpenLogWith is OpenLog with log options (OnBatch for benchmarks, small
// queues, ...).
func OpenLogWith(t testing.TB, opts badgerlog.Options) (*badgerlog.Log, *badger.DB) {
	t.Helper()
	db, err := badgerlog.OpenDB(t.TempDir(), nil)
	if err != nil {
		t.Fatalf("eventstest: %v", err)
	}
	l, err := badgerlog.Open(db, opts)
	if err != nil {
		_ = db.Close()
		t.Fatalf("eventstest: open log: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("eventstest: close log: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("eventstest: close badger: %v", err)
		}
	})
	return l, db
}
