package projector

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/store"
)

// fillLog appends n generated events in large group commits.
func fillLog(t testing.TB, l *badgerlog.Log, seed uint64, n int) {
	t.Helper()
	g := newStreamGen(seed)
	for n > 0 {
		group := make([]events.Event, min(n, 2000))
		for i := range group {
			group[i] = g.next()
		}
		appendGroup(t, l, group)
		n -= len(group)
	}
}

// generations lists the projection directories under root.
func generations(t testing.TB, root string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(root, genPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func linkTarget(t testing.TB, root string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(root, linkName))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func TestRebuildInterrupted(t *testing.T) {
	t.Parallel()
	big := 20_000 // ten chunks of saveEvery
	switch {
	case testing.Short():
		big = 3 * saveEvery
	case raceEnabled:
		big = 5 * saveEvery
	}
	tests := []struct {
		name     string
		events   int
		cancelAt func(call int, done, total uint64) bool // when Progress cancels
	}{
		{"cancelled after the first chunk", big, func(call int, _, _ uint64) bool { return call == 1 }},
		// Every chunk applied, the switch not yet made.
		{"cancelled after the last chunk", saveEvery + saveEvery/4, func(_ int, done, total uint64) bool { return done == total }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			log := eventstest.OpenLog(t)
			fillLog(t, log, 7, tt.events)
			root := t.TempDir()
			p := openProjector(t, ctx, root, log) // builds generation 1
			before, beforeViews, beforeLink := dump(t, p), views(t, p), linkTarget(t, root)

			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var calls []uint64
			_, err := p.Rebuild(rctx, func(done, total uint64) {
				if len(calls) == 0 {
					if gens := generations(t, root); len(gens) != 2 {
						t.Errorf("during the rebuild: generations %v, want the current and the new one", gens)
					}
				}
				calls = append(calls, done)
				if total != log.Head() {
					t.Errorf("progress total %d, want the log head %d", total, log.Head())
				}
				if tt.cancelAt(len(calls), done, total) {
					cancel()
				}
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Rebuild = %v, want context.Canceled", err)
			}
			if len(calls) == 0 {
				t.Fatal("Progress never called")
			}
			if got := dump(t, p); got != before {
				t.Errorf("stored projections changed:\n%s", diffLines(before, got))
			}
			if got := views(t, p); got != beforeViews {
				t.Errorf("views changed:\n%s", diffLines(beforeViews, got))
			}
			if got := linkTarget(t, root); got != beforeLink {
				t.Errorf("link points at %s, want %s", got, beforeLink)
			}
			if gens := generations(t, root); len(gens) != 1 || gens[0] != beforeLink {
				t.Errorf("generations on disk %v, want only %s", gens, beforeLink)
			}
			// Still live: new events are applied to the old projections.
			fillLog(t, log, 8, 10)
			if err := p.CatchUp(ctx); err != nil || p.Checkpoint() != log.Head() {
				t.Fatalf("catch up after the failed rebuild: %v, at %d of %d", err, p.Checkpoint(), log.Head())
			}
			before = dump(t, p)

			// A later rebuild succeeds and switches.
			var last uint64
			stats, err := p.Rebuild(ctx, func(done, total uint64) { last = done })
			if err != nil {
				t.Fatal(err)
			}
			if last != log.Head() || stats.Events != log.Head() || stats.Invalid == 0 {
				t.Errorf("progress ended at %d, stats %+v; want all %d events, some invalid", last, stats, log.Head())
			}
			if got := dump(t, p); got != before {
				t.Errorf("rebuilt projections differ:\n%s", diffLines(before, got))
			}
			if got := linkTarget(t, root); got == beforeLink {
				t.Errorf("link still points at %s", got)
			}
			if gens := generations(t, root); len(gens) != 1 || gens[0] != linkTarget(t, root) {
				t.Errorf("generations on disk %v, want only the new one", gens)
			}
		})
	}
}

// TestCrashDuringRebuild: a process that died while building a new
// generation leaves a partial directory; the next start ignores and
// removes it and serves the previous projections.
func TestCrashDuringRebuild(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	log := eventstest.OpenLog(t)
	fillLog(t, log, 3, 500)
	root := t.TempDir()
	p := openProjector(t, ctx, root, log)
	before, link := dump(t, p), linkTarget(t, root)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// The dead rebuild got part way: a second generation with some state.
	partial, err := store.Open(p.genDir(p.gen+1), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := projections.NewState()
	ch := projections.NewChanges()
	err = log.Scan(ctx, 1, func(e events.Event) error {
		projections.Apply(st, projections.Decode(owntracks.Decoder{}, e), ch)
		if e.Seq == 100 {
			return errors.New("crash")
		}
		return nil
	})
	if err == nil || partial.Save(st, ch, 100) != nil || partial.Close() != nil {
		t.Fatalf("could not leave a partial generation behind (scan: %v)", err)
	}
	// And a half-made link.
	if err := os.Symlink("projections-999999", filepath.Join(root, linkName+".tmp")); err != nil {
		t.Fatal(err)
	}

	p = openProjector(t, ctx, root, log)
	if got := dump(t, p); got != before {
		t.Errorf("projections after the crash differ:\n%s", diffLines(before, got))
	}
	if gens := generations(t, root); len(gens) != 1 || gens[0] != link {
		t.Errorf("generations on disk %v, want only %s", gens, link)
	}
	if _, err := p.Rebuild(ctx, nil); err != nil {
		t.Fatalf("rebuild after the crash: %v", err)
	}
	if got := dump(t, p); got != before {
		t.Errorf("rebuild after the crash differs:\n%s", diffLines(before, got))
	}
}

// setSchema overwrites the schema version stored in the current
// generation, as an older or newer program would have left it.
func setSchema(t testing.TB, dir string, v uint64) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte("m/schema"), binary.BigEndian.AppendUint64(nil, v))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRebuildsWhenStale(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// tamper changes what Open finds; it returns the log to open with.
		tamper  func(t *testing.T, dir string, log *badgerlog.Log) events.Reader
		rebuild bool
		why     string // in the log line
	}{
		{
			name:   "older schema version",
			tamper: func(t *testing.T, dir string, log *badgerlog.Log) events.Reader { setSchema(t, dir, 1); return log },
			// The message names both versions.
			rebuild: true,
			why:     fmt.Sprintf("stored projections have schema version 1, this program uses %d", projections.SchemaVersion),
		},
		{
			name:    "newer schema version",
			tamper:  func(t *testing.T, dir string, log *badgerlog.Log) events.Reader { setSchema(t, dir, 1000); return log },
			rebuild: true,
			why:     "schema version 1000",
		},
		{
			name: "projections ahead of the log",
			tamper: func(t *testing.T, dir string, log *badgerlog.Log) events.Reader {
				return shortLog{log, 290} // the projections are at 300
			},
			rebuild: true,
			why:     "was the log restored?",
		},
		{
			name:   "same schema: catch up from the checkpoint",
			tamper: func(t *testing.T, dir string, log *badgerlog.Log) events.Reader { return log },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			log := eventstest.OpenLog(t)
			fillLog(t, log, 11, 300)
			root := t.TempDir()
			p := openProjector(t, ctx, root, log)
			dir, gen := p.genDir(p.gen), p.gen
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			fillLog(t, log, 12, 50) // more to catch up with
			r := tt.tamper(t, dir, log)

			var logs bytes.Buffer
			p, err := Open(ctx, root, r, owntracks.Decoder{}, slog.New(slog.NewTextHandler(&logs, nil)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			line := ""
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, "rebuilding projections") {
					line = l
				}
			}
			if !tt.rebuild {
				if line != "" || p.gen != gen {
					t.Errorf("rebuilt (generation %d -> %d): %s", gen, p.gen, line)
				}
				if p.Checkpoint() != 300 {
					t.Errorf("opened at checkpoint %d, want the stored 300", p.Checkpoint())
				}
				if err := p.CatchUp(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				if !strings.Contains(line, tt.why) {
					t.Errorf("log line %q, want it to say why: %q\nall logs:\n%s", line, tt.why, logs.String())
				}
				if p.gen == gen {
					t.Errorf("still on generation %d after a rebuild", gen)
				}
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("old generation %s left on disk (%v)", dir, err)
				}
			}
			if schema, _, err := p.store.Meta(); err != nil || schema != projections.SchemaVersion {
				t.Errorf("stored schema %d (%v), want %d", schema, err, projections.SchemaVersion)
			}
			if p.Checkpoint() != r.Head() {
				t.Errorf("checkpoint %d, want the log head %d", p.Checkpoint(), r.Head())
			}
			want := openProjector(t, ctx, t.TempDir(), r) // built from scratch
			if got, want := dump(t, p), dump(t, want); got != want {
				t.Errorf("projections differ from a fresh build:\n%s", diffLines(want, got))
			}
		})
	}
}

// shortLog is a log that ends early, as after restoring an older backup.
type shortLog struct {
	*badgerlog.Log
	head uint64
}

func (l shortLog) Head() uint64 { return l.head }

func (l shortLog) Scan(ctx context.Context, from uint64, fn func(events.Event) error) error {
	err := l.Log.Scan(ctx, from, func(e events.Event) error {
		if e.Seq > l.head {
			return errStop
		}
		return fn(e)
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")
