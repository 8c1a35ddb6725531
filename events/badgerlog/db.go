package badgerlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// ErrLocked is returned by OpenDB when another process (usually a running
// server) holds the database.
var ErrLocked = errors.New("database is in use by another process")

// OpenDB opens the Badger database in dir, sized for a small server:
// Badger's defaults take most of a gigabyte while writing; these keep the
// process well under 100 MB at rest. The log calls Sync itself after each
// group commit; other writers (projections) may rely on that or call Sync.
func OpenDB(dir string, logger *slog.Logger) (*badger.DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The log is read sequentially (catch-up, rebuild, follow), so a block
	// cache buys little; small caches keep the server small.
	opts := SmallOptions(dir, logger.With("component", "badger")).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(4 << 20).
		WithValueThreshold(32 << 10) // big payloads (card faces) go to the value log
	return OpenWith(opts)
}

// SmallOptions are Badger options for a small server: small memtables and
// caches, two compactors, no conflict detection (one writer), no sync on
// commit (the log syncs per group commit itself).
func SmallOptions(dir string, logger *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(BadgerLogger(logger)).
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
}

// OpenWith opens a Badger database, reporting a directory held by another
// process as ErrLocked.
func OpenWith(opts badger.Options) (*badger.DB, error) {
	db, err := badger.Open(opts)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("open %s: %w", opts.Dir, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", opts.Dir, err)
	}
	return db, nil
}

// RunGC reclaims value-log space every interval until ctx ends. The log is
// append-only, so there is rarely much to collect; projections rewrite.
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

// BadgerLogger routes Badger's printf-style logger into slog. Badger's
// INFO chatter goes to Debug.
func BadgerLogger(l *slog.Logger) badger.Logger { return slogAdapter{l} }

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
