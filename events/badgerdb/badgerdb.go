// Package badgerdb opens Badger databases the way this server runs them:
// sized for a small machine, logging into slog, and reporting a database
// held by another process as ErrLocked. The event log (events/badgerlog)
// and the projection store (projections/store) each open their own
// database through it and tune it on top.
package badgerdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// ErrLocked is returned by Open when another process (usually a running
// server) holds the database.
var ErrLocked = errors.New("database is in use by another process")

// Options are Badger options for a small server: small memtables and
// caches, two compactors, no conflict detection (one writer), no sync on
// commit (writers that need durability sync themselves). Badger's
// defaults take most of a gigabyte while writing; these keep the process
// well under 100 MB at rest.
func Options(dir string, logger *slog.Logger) badger.Options {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := badger.DefaultOptions(dir).
		WithLogger(Logger(logger)).
		WithSyncWrites(false).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(10).
		WithBaseTableSize(4 << 20).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(16 << 20).
		WithNumCompactors(2).
		WithCompression(options.Snappy).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
	// Every level's tables the base size: with Badger's doubling per level
	// a compaction into the deeper levels builds 16-32 MB tables, each in a
	// buffer of twice that (90 MB of heap after a rebuild of 1,000,000
	// events). Smaller tables only mean more files.
	o.TableSizeMultiplier = 1
	return o
}

// Open opens a Badger database, reporting a directory held by another
// process as ErrLocked.
func Open(opts badger.Options) (*badger.DB, error) {
	db, err := badger.Open(opts)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("open %s: %w", opts.Dir, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", opts.Dir, err)
	}
	return db, nil
}

// Reopen closes db and opens it again with opts. Badger keeps every page
// of the tables it wrote or read mapped into the process until it closes
// them; opened again, they are mapped untouched, as after a restart.
//
// Badger releases its directory lock by closing its descriptor of the
// directory, and a process forked meanwhile (os/exec anywhere in the
// program: a test's broker or browser) holds a copy of that descriptor,
// and with it the lock, until it execs: the open right after the close
// then found the database "in use" by this very process. Holding
// syscall.ForkLock for reading keeps forks out from before the close to
// after the open; the retries cover the last instants of an exec, when
// Linux already lets the parent go on but has not yet closed the child's
// copies.
func Reopen(db *badger.DB, opts badger.Options) (*badger.DB, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("reopen %s: %w", opts.Dir, err)
	}
	for wait := time.Millisecond; ; wait *= 2 {
		db, err := Open(opts)
		if !errors.Is(err, ErrLocked) || wait > time.Second {
			return db, err
		}
		time.Sleep(wait)
	}
}

// RunGC reclaims value-log space of db every interval until ctx ends.
func RunGC(ctx context.Context, db *badger.DB, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for db.RunValueLogGC(0.5) == nil {
			}
		}
	}
}

// Logger routes Badger's printf-style logger into slog. Badger's INFO
// chatter goes to Debug.
func Logger(l *slog.Logger) badger.Logger { return slogAdapter{l} }

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Errorf(f string, args ...any) {
	a.l.Error(strings.TrimSpace(fmt.Sprintf(f, args...)))
}
func (a slogAdapter) Warningf(f string, args ...any) {
	a.l.Warn(strings.TrimSpace(fmt.Sprintf(f, args...)))
}
func (a slogAdapter) Infof(f string, args ...any) {
	a.l.Debug(strings.TrimSpace(fmt.Sprintf(f, args...)))
}
func (a slogAdapter) Debugf(f string, args ...any) {
	a.l.Debug(strings.TrimSpace(fmt.Sprintf(f, args...)))
}
