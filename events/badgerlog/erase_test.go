package badgerlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events"
)

const eraseMarker = "ERASE-ME-7f3a9c"

// userEvent is a location of user on phone whose payload carries text.
func userEvent(user string, i int, text string) events.Event {
	return events.Event{Topic: "owntracks/" + user + "/phone",
		Payload: fmt.Appendf(nil, `{"_type":"location","tst":%d,"lat":50.8,"lon":4.3,"note":%q}`, 1000+i, text),
		QoS:     1, Source: events.SourceEmbedded, Received: time.Unix(int64(1000+i), 0)}
}

func isUser(user string) func(*events.Event) bool {
	return func(e *events.Event) bool { return strings.HasPrefix(e.Topic, "owntracks/"+user+"/") }
}

func tombstone(r EraseResult) (events.Event, error) {
	b, err := json.Marshal(map[string]any{"type": "erase", "erased": r.Erased, "first": r.First, "last": r.Last})
	return events.Event{Topic: "tracker/admin/erase", Payload: b, Source: events.SourceAdmin}, err
}

// filesContaining lists the files under root holding s.
func filesContaining(t *testing.T, root, s string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// An erasure leaves no byte of the erased payloads in any file of the
// log's directory (tables, value log, write-ahead files), also after a
// restart; the log reads end to end with dense seqs, the other user's
// events are exactly as they were, and the tombstone closes it.
func TestEraseRemovesBytes(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "log")
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var want []events.Event
	for i := range 300 {
		user, text := "bob", "bob-was-here"
		if i%3 == 0 {
			user, text = "alice", eraseMarker
		}
		e := userEvent(user, i, text)
		if i == 30 { // a big one: Badger keeps it in the value log
			e.Payload = append(e.Payload, bytes.Repeat([]byte(eraseMarker), 4000)...)
		}
		e.Retained = i == 297 // alice's last is her retained message
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	if len(filesContaining(t, root, eraseMarker)) == 0 {
		t.Fatal("the marker is not on disk before the erasure: the test proves nothing")
	}
	res, err := l.Erase(ctx, EraseSpec{Match: isUser("alice"), Tombstone: tombstone})
	if err != nil {
		t.Fatal(err)
	}
	if res.Erased != 100 || res.First != 1 || res.Last != 298 || res.Seq != 301 || !res.Rewritten {
		t.Errorf("erase = %+v, want 100 erased, 1..298, tombstone 301", res)
	}
	check := func(l *Log) {
		t.Helper()
		n := uint64(0)
		err := l.Scan(ctx, 1, func(e events.Event) error {
			n++
			if e.Seq != n {
				t.Fatalf("seq %d after %d: not dense", e.Seq, n-1)
			}
			if n > 301 {
				return nil // appended after the erasure
			}
			if n == 301 {
				if e.Topic != "tracker/admin/erase" || e.Source != events.SourceAdmin || !bytes.Contains(e.Payload, []byte(`"erased":100`)) {
					t.Errorf("tombstone = %+v %s", e, e.Payload)
				}
				return nil
			}
			w := want[n-1]
			if strings.HasPrefix(w.Topic, "owntracks/alice/") {
				if !e.Erased() || e.Topic != "" || len(e.Payload) != 0 || !e.Received.IsZero() {
					t.Errorf("event %d = %+v, want a placeholder", e.Seq, e)
				}
				return nil
			}
			if e.Topic != w.Topic || !bytes.Equal(e.Payload, w.Payload) || !e.Received.Equal(w.Received) || e.Source != w.Source {
				t.Errorf("bob's event %d = %+v, want %+v", e.Seq, e, w)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != l.Head() || n < 301 {
			t.Errorf("read %d events, head %d; want at least 301", n, l.Head())
		}
		if got, err := l.Get(31); err != nil || !got.Erased() {
			t.Errorf("Get(31) = %+v, %v; want a placeholder", got, err)
		}
		if seqs, err := l.RetainedSeqs(); err != nil || len(seqs) != 0 {
			t.Errorf("retained marks after erasing the retained event: %v, %v", seqs, err)
		}
	}
	check(l)
	if f := filesContaining(t, root, eraseMarker); len(f) > 0 {
		t.Errorf("the erased marker is still in %v", f)
	}
	if seq, err := l.Append(ctx, userEvent("bob", 999, "after")); err != nil || seq != 302 {
		t.Errorf("append after the erasure: seq %d, %v; want 302", seq, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTest(t, dir)
	if l2.Head() != 302 {
		t.Errorf("head after restart = %d, want 302", l2.Head())
	}
	check(l2)
	if f := filesContaining(t, root, eraseMarker); len(f) > 0 {
		t.Errorf("after a restart the erased marker is in %v", f)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("left beside the log: %v", entries)
	}
}

// An erasure that matches nothing copies nothing and records a tombstone
// saying 0; every event stays as it was.
func TestEraseNothing(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := t.Context()
	for i := range 10 {
		if _, err := l.Append(ctx, userEvent("bob", i, "x")); err != nil {
			t.Fatal(err)
		}
	}
	res, err := l.Erase(ctx, EraseSpec{Match: isUser("carol"), Tombstone: tombstone})
	if err != nil {
		t.Fatal(err)
	}
	if res.Erased != 0 || res.Rewritten || res.Seq != 11 {
		t.Errorf("erase = %+v, want nothing erased and a tombstone at 11", res)
	}
	e, err := l.Get(11)
	if err != nil || !bytes.Contains(e.Payload, []byte(`"erased":0`)) {
		t.Errorf("tombstone = %s, %v", e.Payload, err)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		if e, err := l.Get(seq); err != nil || e.Erased() || e.Topic != "owntracks/bob/phone" {
			t.Errorf("event %d = %+v, %v", seq, e, err)
		}
	}
}

// Appends go on while an erasure copies the log and swaps it: every
// acknowledged event of the other user is in the log afterwards, with
// the seq it was acknowledged with, and scans running meanwhile finish.
func TestEraseWhileAppending(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := t.Context()
	for i := range 5000 {
		user := "bob"
		if i%2 == 0 {
			user = "alice"
		}
		l.AppendAsync(userEvent(user, i, eraseMarker), nil)
	}
	if _, err := l.Append(ctx, userEvent("bob", -1, "sync")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[uint64]string{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("w%d-%d", w, i)
				seq, err := l.Append(ctx, userEvent("bob", i, text))
				if err != nil {
					t.Errorf("append during the erasure: %v", err)
					return
				}
				mu.Lock()
				acked[seq] = text
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // a reader across the swap
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := uint64(0)
			if err := l.Scan(ctx, 1, func(e events.Event) error {
				if n++; e.Seq != n {
					return fmt.Errorf("seq %d after %d", e.Seq, n-1)
				}
				return nil
			}); err != nil {
				t.Errorf("scan during the erasure: %v", err)
				return
			}
		}
	})
	time.Sleep(20 * time.Millisecond)
	res, err := l.Erase(ctx, EraseSpec{Match: isUser("alice"), Tombstone: tombstone})
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Erased != 2500 {
		t.Errorf("erased %d, want 2500", res.Erased)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no append was acknowledged during the erasure")
	}
	n := 0
	err = l.Scan(ctx, 1, func(e events.Event) error {
		if text, ok := acked[e.Seq]; ok {
			n++
			if !bytes.Contains(e.Payload, []byte(fmt.Sprintf("%q", text))) {
				t.Errorf("acknowledged event %d = %s, want %q", e.Seq, e.Payload, text)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(acked) {
		t.Errorf("%d of %d acknowledged events found", n, len(acked))
	}
	t.Logf("%d appends acknowledged during the erasure", len(acked))
}

// A volume that fills up while the copy is written stops the erasure:
// ErrDiskFull, the old log exactly as it was, no copy left behind.
func TestEraseDiskFullLeavesLog(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "log")
	var free atomic.Uint64
	free.Store(1 << 40)
	space := NewSpace(root, 64<<20, nil)
	var calls atomic.Int64
	var armed atomic.Bool
	space.statfs = func(string) (uint64, error) {
		if armed.Load() && calls.Add(1) > 1 { // room at the start of the erasure, then full
			free.Store(1 << 20)
		}
		return free.Load(), nil
	}
	l, err := Open(dir, Options{Space: space})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	ctx := t.Context()
	for i := range 3000 {
		e := userEvent("alice", i, eraseMarker+strings.Repeat("-", 4000))
		l.AppendAsync(e, nil)
	}
	if _, err := l.Append(ctx, userEvent("bob", 0, "last")); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	_, err = l.Erase(ctx, EraseSpec{Match: isUser("alice"), Tombstone: tombstone})
	if !errors.Is(err, events.ErrDiskFull) {
		t.Fatalf("erase on a filling disk: %v, want ErrDiskFull", err)
	}
	if l.Head() != 3001 {
		t.Errorf("head = %d, want 3001", l.Head())
	}
	n := 0
	if err := l.Scan(ctx, 1, func(e events.Event) error {
		if e.Erased() {
			t.Errorf("event %d erased by a failed erasure", e.Seq)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 3001 {
		t.Errorf("read %d events, want 3001", n)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("left beside the log: %v", entries)
	}
	armed.Store(false)
	free.Store(1 << 40)
	time.Sleep(spaceCheckEvery)
	if _, err := l.Append(ctx, userEvent("bob", 1, "after")); err != nil {
		t.Errorf("append after the failed erasure: %v", err)
	}
}

// A crash between the swap's two renames leaves the complete copy beside
// a missing log: Open finishes the swap. Leftover copies are removed.
func TestEraseRecovery(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "log")
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 10 {
		if _, err := l.Append(ctx, userEvent("bob", i, "x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The state after `rename log log.erase-old` with the new copy at
	// log.erase-new (here: the same log), plus a half-written copy.
	if err := os.Rename(dir, dir+suffixNew); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir+suffixTmp, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir+suffixTmp, "000001.vlog"), []byte(eraseMarker), 0o640); err != nil {
		t.Fatal(err)
	}
	l2 := openTest(t, dir)
	if l2.Head() != 10 {
		t.Errorf("head after recovery = %d, want 10", l2.Head())
	}
	if f := filesContaining(t, root, eraseMarker); len(f) > 0 {
		t.Errorf("left after recovery: %v", f)
	}
}

// The copy keeps the import keys of events that stay, also of those
// imported while it was written (so importing them again adds nothing),
// and drops those of erased events (so a new import of them logs them).
func TestEraseKeepsImportKeys(t *testing.T) {
	l := openTest(t, t.TempDir())
	ctx := t.Context()
	imp := func(user string, i int) events.Event {
		e := userEvent(user, i, "imported")
		e.Source = events.SourceRecorder
		return e
	}
	for i := range 5 {
		for _, u := range []string{"alice", "bob"} {
			if _, err := l.Append(ctx, imp(u, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var during uint64
	match := isUser("alice")
	spec := EraseSpec{Tombstone: tombstone, Match: func(e *events.Event) bool {
		if during == 0 { // while the copy is written, before the switch
			var err error
			if during, err = l.Append(ctx, imp("bob", 100)); err != nil {
				t.Error(err)
			}
		}
		return match(e)
	}}
	if _, err := l.Erase(ctx, spec); err != nil {
		t.Fatal(err)
	}
	for _, e := range []events.Event{imp("bob", 0), imp("bob", 4), imp("bob", 100)} {
		if seq, err := l.Append(ctx, e); !errors.Is(err, ErrAlreadyLogged) {
			t.Errorf("importing bob's %s again: seq %d, %v; want ErrAlreadyLogged", e.Payload, seq, err)
		}
	}
	if seq, err := l.Append(ctx, imp("alice", 0)); err != nil || seq == 0 {
		t.Errorf("importing alice's erased event again: seq %d, %v; want it logged anew", seq, err)
	}
}
