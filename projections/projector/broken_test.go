package projector

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tables lists the projections' .sst files, biggest first.
func tables(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(m) == 0 {
		t.Fatalf("no tables in %s", dir)
	}
	sort.Slice(m, func(i, j int) bool {
		a, _ := os.Stat(m[i])
		b, _ := os.Stat(m[j])
		return a.Size() > b.Size()
	})
	return m
}

// setValue overwrites the first value under prefix in the projections'
// Badger database with garbage.
func setValue(t *testing.T, dir, prefix string) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithCompression(options.None)) // as the store writes
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		it.Rewind()
		if !it.Valid() {
			it.Close()
			t.Fatalf("no key under %q", prefix)
		}
		k := it.Item().KeyCopy(nil)
		it.Close()
		return txn.Set(k, []byte("\x00garbled{"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Projections are disposable: whatever is wrong with their files, the
// server says why and rebuilds them from the log, and serves the same
// state as before.
func TestOpenRebuildsBrokenProjections(t *testing.T) {
	cases := []struct {
		name   string
		breakF func(t *testing.T, root, dir string)
		why    string // in the warning
	}{
		{"table deleted", func(t *testing.T, _, dir string) {
			if err := os.Remove(tables(t, dir)[0]); err != nil {
				t.Fatal(err)
			}
		}, "cannot open them"},
		{"table garbled", func(t *testing.T, _, dir string) {
			f, err := os.OpenFile(tables(t, dir)[0], os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := f.Stat()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), fi.Size()/3); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
		}, ""},
		{"table truncated", func(t *testing.T, _, dir string) {
			sst := tables(t, dir)[0]
			fi, _ := os.Stat(sst)
			if err := os.Truncate(sst, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "cannot open them"},
		{"MANIFEST removed", func(t *testing.T, _, dir string) {
			if err := os.Remove(filepath.Join(dir, "MANIFEST")); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"link to a missing generation", func(t *testing.T, root, _ string) {
			link := filepath.Join(root, linkName)
			_ = os.Remove(link)
			if err := os.Symlink(genPrefix+"000099", link); err != nil {
				t.Fatal(err)
			}
		}, "missing"},
		{"link to garbage", func(t *testing.T, root, _ string) {
			link := filepath.Join(root, linkName)
			_ = os.Remove(link)
			if err := os.Symlink("../../etc", link); err != nil {
				t.Fatal(err)
			}
		}, "not a projections directory"},
		{"friend value corrupted", func(t *testing.T, _, dir string) { setValue(t, dir, "f/") }, "cannot read them"},
		{"user value corrupted", func(t *testing.T, _, dir string) { setValue(t, dir, "u/") }, "cannot read them"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := eventstest.OpenLog(t)
			root := t.TempDir()
			ctx := t.Context()
			fillLog(t, log, 11, 6000)
			appendAll(t, log, userEvent("ann"))
			p, err := Open(ctx, root, log, owntracks.Decoder{}, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := dump(t, p)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}

			tc.breakF(t, root, filepath.Join(root, linkTarget(t, root)))

			var logs lockedBuffer
			p, err = Open(ctx, root, log, owntracks.Decoder{}, slog.New(slog.NewTextHandler(&logs, nil)), Options{})
			if err != nil {
				t.Fatalf("Open with broken projections: %v", err)
			}
			defer p.Close()
			if !strings.Contains(logs.String(), "rebuilding projections from the log") || !strings.Contains(logs.String(), tc.why) {
				t.Errorf("log does not say why the projections are rebuilt (%q):\n%s", tc.why, logs.String())
			}
			if got := dump(t, p); got != want {
				t.Errorf("after the rebuild the projections differ from before")
			}
			if _, ok := p.User("ann"); !ok {
				t.Error("user ann lost")
			}
		})
	}
}

// A history block that cannot be read fails that read (no broken data
// served) and has Run rebuild the projections, after which it reads.
func TestReadFailureRebuilds(t *testing.T) {
	log := eventstest.OpenLog(t)
	root := t.TempDir()
	ctx := t.Context()
	fillLog(t, log, 12, 6000)
	p, err := Open(ctx, root, log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := dump(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, linkTarget(t, root))
	setValue(t, dir, "h/")

	var logs lockedBuffer
	p, err = Open(ctx, root, log, owntracks.Decoder{}, slog.New(slog.NewTextHandler(&logs, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	var dev projections.DeviceID
	for _, f := range p.Friends() {
		dev = f.ID
		break
	}
	readAll := func() error {
		var errs []error
		for _, f := range p.Friends() {
			if err := p.History(f.ID, 0, 1<<40, func(projections.Point) error { return nil }); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return errs[0]
		}
		return nil
	}
	if err := readAll(); err == nil {
		t.Fatalf("reading history with a garbled block (device %s) did not fail", dev)
	}
	deadline := time.Now().Add(30 * time.Second)
	for readAll() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("history still fails 30s after the failed read\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := dump(t, p); got != want {
		t.Error("after the rebuild the projections differ from before")
	}
	if !strings.Contains(logs.String(), "a read failed") {
		t.Errorf("the rebuild was not logged:\n%s", logs.String())
	}
}

func userEvent(name string) events.Event {
	return events.Event{Topic: projections.UserTopic, Source: events.SourceAdmin, Received: time.Unix(5000, 0),
		Payload: []byte(`{"_type":"user","action":"add","name":"` + name + `","hash":"$2a$10$abcdefghijklmnopqrstuuJ1vDxB0n0XCsvOq1zQ3c0b1v1p7cX6a"}`)}
}

// OpenServing returns before the rebuild with the users folded from the
// log (what logins need), serves no half-built data meanwhile, and Run
// then rebuilds to the same state Open builds.
func TestOpenServingRebuildsInRun(t *testing.T) {
	log := eventstest.OpenLog(t)
	root := t.TempDir()
	ctx := t.Context()
	fillLog(t, log, 13, 6000)
	appendAll(t, log, userEvent("ann"))
	p, err := Open(ctx, root, log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := dump(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	setSchema(t, filepath.Join(root, linkTarget(t, root)), 1) // an older program's projections

	var logs lockedBuffer
	p, err = OpenServing(ctx, root, log, owntracks.Decoder{}, slog.New(slog.NewTextHandler(&logs, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := p.User("ann"); !ok || !p.HasUsers() {
		t.Fatal("users are not known before the rebuild")
	}
	if p.Checkpoint() != 0 || len(p.Friends()) != 0 {
		t.Errorf("before the rebuild: checkpoint %d, %d friends; want 0, 0", p.Checkpoint(), len(p.Friends()))
	}
	if err := p.History("alice/phone", 0, 1<<40, func(projections.Point) error { return nil }); !errors.Is(err, projections.ErrRebuilding) {
		t.Errorf("history before the rebuild: %v, want ErrRebuilding", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	if err := p.WaitFor(ctx, log.Head()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := dump(t, p); got != want {
		t.Error("after the rebuild in Run the projections differ from Open's")
	}
	if !strings.Contains(logs.String(), "schema version 1") || !strings.Contains(logs.String(), "projections rebuilt from the log") {
		t.Errorf("logs:\n%s", logs.String())
	}
}
