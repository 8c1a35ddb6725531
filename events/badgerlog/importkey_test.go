package badgerlog

import (
	"errors"
	"sync"
	"testing"
	"time"

	"tracker/events"
)

func importEvent(tst int64, payload string) events.Event {
	return events.Event{
		Topic: "owntracks/jane/phone", Payload: []byte(payload),
		Source: events.SourceRecorder, Received: time.Unix(tst, 0),
	}
}

func TestImportKeysMakeImportsIdempotent(t *testing.T) {
	loc := `{"_type":"location","lat":1,"lon":2,"tst":1700000000}`
	tests := []struct {
		name       string
		first      events.Event
		second     events.Event
		wantStored int // events in the log after both
	}{
		{"same import twice", importEvent(1700000000, loc), importEvent(1700000000, loc), 1},
		{"different time", importEvent(1700000000, loc), importEvent(1700000001, loc), 2},
		{"different payload", importEvent(1700000000, loc), importEvent(1700000000, loc+" "), 2},
		{"different topic", importEvent(1700000000, loc), func() events.Event {
			e := importEvent(1700000000, loc)
			e.Topic += "/event"
			return e
		}(), 2},
		{"different import source", importEvent(1700000000, loc), func() events.Event {
			e := importEvent(1700000000, loc)
			e.Source = events.SourceGPX
			return e
		}(), 2},
		{"flags do not matter", importEvent(1700000000, loc), func() events.Event {
			e := importEvent(1700000000, loc)
			e.QoS, e.Retained = 1, true
			return e
		}(), 1},
		{"phones are never deduplicated by key", func() events.Event {
			e := importEvent(1700000000, loc)
			e.Source = events.SourceEmbedded
			return e
		}(), func() events.Event {
			e := importEvent(1700000000, loc)
			e.Source = events.SourceEmbedded
			return e
		}(), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, t.TempDir())
			s1, err := l.Append(t.Context(), tc.first)
			if err != nil || s1 != 1 {
				t.Fatalf("first append = %d, %v", s1, err)
			}
			s2, err := l.Append(t.Context(), tc.second)
			if tc.wantStored == 1 {
				if !errors.Is(err, ErrAlreadyLogged) || s2 != s1 {
					t.Fatalf("second append = %d, %v; want %d, ErrAlreadyLogged", s2, err, s1)
				}
			} else if err != nil || s2 != 2 {
				t.Fatalf("second append = %d, %v; want 2, nil", s2, err)
			}
			if h := l.Head(); h != uint64(tc.wantStored) {
				t.Fatalf("head = %d, want %d", h, tc.wantStored)
			}
		})
	}
}

func TestImportKeysSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	a := importEvent(1700000000, `{"_type":"location","lat":1,"lon":2,"tst":1700000000}`)
	b := importEvent(1700000060, `{"_type":"location","lat":1,"lon":2.1,"tst":1700000060}`)
	for _, e := range []events.Event{a, b} {
		if _, err := l.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	_ = l.Close()

	l = openTest(t, dir)
	if seq, err := l.Append(t.Context(), b); !errors.Is(err, ErrAlreadyLogged) || seq != 2 {
		t.Fatalf("after reopen: %d, %v; want 2, ErrAlreadyLogged", seq, err)
	}
	c := importEvent(1700000120, `{"_type":"location","lat":1,"lon":2.2,"tst":1700000120}`)
	if seq, err := l.Append(t.Context(), c); err != nil || seq != 3 {
		t.Fatalf("new import after reopen: %d, %v; want 3", seq, err)
	}
}

// TestImportKeysWithinOneBatch: the same import queued twice in one group
// commit is stored once, and both appends learn the one seq.
func TestImportKeysWithinOneBatch(t *testing.T) {
	l := openTest(t, t.TempDir())
	e := importEvent(1700000000, `{"_type":"location","lat":1,"lon":2,"tst":1700000000}`)
	other := importEvent(1700000001, `{"_type":"location","lat":1,"lon":2,"tst":1700000001}`)
	type res struct {
		seq uint64
		err error
	}
	results := make([]res, 3)
	var wg sync.WaitGroup
	batch := make([]request, 0, 3)
	for i, ev := range []events.Event{e, other, e} {
		wg.Add(1)
		batch = append(batch, request{ev: ev, done: func(seq uint64, err error) { results[i] = res{seq, err}; wg.Done() }})
	}
	// The committer is idle (nothing queued); hand it one batch the way
	// commitLoop does.
	l.inflight <- l.commit(batch)
	wg.Wait()
	if results[0].err != nil || results[1].err != nil || !errors.Is(results[2].err, ErrAlreadyLogged) {
		t.Fatalf("results = %+v", results)
	}
	if results[2].seq != results[0].seq || l.Head() != 2 {
		t.Fatalf("results = %+v, head %d; want the repeat acknowledged with seq %d and 2 stored", results, l.Head(), results[0].seq)
	}
}

// TestRestoreRebuildsImportIndex: appending a log's events again into an
// empty log (what tracker import log does) indexes the imports, so a
// second import into the restored log stores nothing.
func TestRestoreRebuildsImportIndex(t *testing.T) {
	orig := openTest(t, t.TempDir())
	ctx := t.Context()
	imp := importEvent(1700000000, `{"_type":"location","lat":1,"lon":2,"tst":1700000000}`)
	for _, e := range []events.Event{
		{Topic: "owntracks/a/p", Payload: []byte("{}"), Source: events.SourceEmbedded},
		imp,
	} {
		if _, err := orig.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	restored := openTest(t, t.TempDir())
	err := orig.Scan(ctx, 1, func(e events.Event) error {
		seq, err := restored.Append(ctx, e)
		if err == nil && seq != e.Seq {
			t.Errorf("event %d restored as %d", e.Seq, seq)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := restored.Append(ctx, imp); !errors.Is(err, ErrAlreadyLogged) || seq != 2 {
		t.Fatalf("import into the restored log: %d, %v; want 2, ErrAlreadyLogged", seq, err)
	}
}

func TestImportKeyFields(t *testing.T) {
	e := importEvent(1700000000, "x")
	k1, ok := ImportKey(&e)
	if !ok {
		t.Fatal("no key for an import")
	}
	// Length prefixes: moving a byte between topic and payload changes the key.
	f := e
	f.Topic, f.Payload = e.Topic+"x", nil
	k2, _ := ImportKey(&f)
	g := e
	g.Received = e.Received.Add(time.Nanosecond)
	k3, _ := ImportKey(&g)
	if k1 == k2 || k1 == k3 {
		t.Errorf("keys collide: %x %x %x", k1, k2, k3)
	}
	e.Source = events.SourceHTTP
	if _, ok := ImportKey(&e); ok {
		t.Error("a key for a phone's event")
	}
}

// TestImportFilter: every added key is found, across the filter's growth,
// and few others are (each of those costs a Badger read).
func TestImportFilter(t *testing.T) {
	f := &importFilter{}
	key := func(i int) [ImportKeySize]byte {
		e := importEvent(int64(i), "x")
		k, _ := ImportKey(&e)
		return k
	}
	const n = 2*bloomFirst + 123
	for i := range n {
		f.add(key(i))
	}
	if len(f.parts) != 2 {
		t.Errorf("%d parts for %d keys, want 2", len(f.parts), n)
	}
	for i := range n {
		if !f.mayContain(key(i)) {
			t.Fatalf("key %d added but not found", i)
		}
	}
	positives := 0
	const probes = 100000
	for i := range probes {
		if f.mayContain(key(n + i)) {
			positives++
		}
	}
	rate := float64(positives) / probes
	if rate > 0.04 {
		t.Errorf("false positive rate %.3f, want 1-2%% a part (2 parts)", rate)
	}
	t.Logf("false positives: %.2f%% with %d parts", 100*rate, len(f.parts))
}
