package badgerlog

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tracker/events"
)

func openTest(t testing.TB, dir string) (*badger.DB, *Log) {
	t.Helper()
	db, err := OpenDB(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = l.Close()
		_ = db.Close()
	})
	return db, l
}

func TestAppendScanReopen(t *testing.T) {
	dir := t.TempDir()
	db, l := openTest(t, dir)
	ctx := t.Context()
	want := []events.Event{
		{Topic: "owntracks/a/p", Payload: []byte(`{"_type":"location"}`), QoS: 1, Source: events.SourceEmbedded, Received: time.Unix(100, 5)},
		{Topic: "owntracks/a/p/info", Payload: []byte{0xff, 0x00, 0x01}, Retained: true, Dup: true, Source: "mqtt:tcp://x:1883", Received: time.Unix(101, 0)},
		{Topic: "owntracks/b/p", Payload: nil, Retained: true, Source: events.SourceHTTP, Received: time.Unix(102, 0)},
		{Topic: "t", Payload: bytes.Repeat([]byte("x"), 1<<20), Source: events.SourceEmbedded, Received: time.Unix(103, 0)},
	}
	for i, e := range want {
		seq, err := l.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("seq = %d, want %d", seq, i+1)
		}
	}
	check := func(l *Log) {
		t.Helper()
		var got []events.Event
		if err := l.Scan(ctx, 0, func(e events.Event) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("scanned %d events, want %d", len(got), len(want))
		}
		for i, g := range got {
			w := want[i]
			if g.Seq != uint64(i+1) || g.Topic != w.Topic || !bytes.Equal(g.Payload, w.Payload) ||
				g.QoS != w.QoS || g.Retained != w.Retained || g.Dup != w.Dup || g.Source != w.Source ||
				!g.Received.Equal(w.Received) {
				t.Errorf("event %d = %+v, want %+v", i+1, g, w)
			}
		}
	}
	check(l)
	_ = l.Close()
	_ = db.Close()
	_, l2 := openTest(t, dir)
	if l2.Head() != 4 {
		t.Fatalf("head after reopen = %d, want 4", l2.Head())
	}
	check(l2)
	seq, err := l2.Append(ctx, events.Event{Topic: "owntracks/c/d", Payload: []byte("{}")})
	if err != nil || seq != 5 {
		t.Fatalf("append after reopen = %d, %v; want 5", seq, err)
	}
}

func TestDuplicatesFlagged(t *testing.T) {
	dir := t.TempDir()
	db, l := openTest(t, dir)
	ctx := t.Context()
	e := events.Event{Topic: "owntracks/a/p", Payload: []byte(`{"_type":"location","tst":1}`)}
	s1, _ := l.Append(ctx, e)
	s2, _ := l.Append(ctx, events.Event{Topic: "owntracks/a/p", Payload: []byte(`{"_type":"location","tst":2}`)})
	_ = l.Close()
	_ = db.Close()
	// The window survives a restart: a redelivery after a crash is still recognised.
	_, l = openTest(t, dir)
	s3, _ := l.Append(ctx, e)
	got, err := l.Get(s3)
	if err != nil {
		t.Fatal(err)
	}
	if got.DuplicateOf != s1 {
		t.Errorf("DuplicateOf = %d, want %d", got.DuplicateOf, s1)
	}
	g2, _ := l.Get(s2)
	if g2.DuplicateOf != 0 {
		t.Errorf("distinct payload flagged as duplicate of %d", g2.DuplicateOf)
	}
}

func TestRetainedReplayFromExternalBrokerStoredOnce(t *testing.T) {
	_, l := openTest(t, t.TempDir())
	ctx := t.Context()
	card := events.Event{Topic: "owntracks/a/p/info", Payload: []byte(`{"_type":"card"}`), Retained: true, Source: "mqtt:tcp://b:1883"}
	s1, _ := l.Append(ctx, card)
	s2, _ := l.Append(ctx, card) // resubscribe replays it
	if s2 != s1 || l.Head() != 1 {
		t.Fatalf("replay appended: seqs %d, %d, head %d", s1, s2, l.Head())
	}
	card.Payload = []byte(`{"_type":"card","name":"new"}`)
	if s3, _ := l.Append(ctx, card); s3 != 2 {
		t.Fatalf("changed retained payload got seq %d, want 2", s3)
	}
	// The embedded broker's publishers are always logged, even when identical.
	emb := events.Event{Topic: "owntracks/a/p/info", Payload: []byte(`{"_type":"card"}`), Retained: true, Source: events.SourceEmbedded}
	l.Append(ctx, emb)
	l.Append(ctx, emb)
	if l.Head() != 4 {
		t.Fatalf("head = %d, want 4", l.Head())
	}
}

func TestConcurrentAppendsDenseAndOrdered(t *testing.T) {
	_, l := openTest(t, t.TempDir())
	const writers, per = 16, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				if _, err := l.Append(context.Background(), events.Event{
					Topic: fmt.Sprintf("owntracks/u%d/p", w), Payload: fmt.Appendf(nil, "%d", i),
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	next := map[string]int{}
	var seq uint64
	err := l.Scan(t.Context(), 1, func(e events.Event) error {
		seq++
		if e.Seq != seq {
			return fmt.Errorf("seq %d, want %d (gap)", e.Seq, seq)
		}
		if want := fmt.Sprint(next[e.Topic]); string(e.Payload) != want {
			return fmt.Errorf("%s: payload %s, want %s (per-writer order broken)", e.Topic, e.Payload, want)
		}
		next[e.Topic]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seq != writers*per {
		t.Fatalf("%d events, want %d", seq, writers*per)
	}
}

func TestFollowSeesNewEventsWithoutPolling(t *testing.T) {
	_, l := openTest(t, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	l.Append(ctx, events.Event{Topic: "a", Payload: []byte("1")})
	got := make(chan uint64, 10)
	go func() {
		_ = events.Follow(ctx, l, 1, func(e events.Event) error { got <- e.Seq; return nil })
	}()
	if s := <-got; s != 1 {
		t.Fatalf("first followed seq %d", s)
	}
	l.Append(ctx, events.Event{Topic: "a", Payload: []byte("2")})
	select {
	case s := <-got:
		if s != 2 {
			t.Fatalf("followed seq %d, want 2", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follower did not see the new event")
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	_, l := openTest(t, t.TempDir())
	_ = l.Close()
	if _, err := l.Append(t.Context(), events.Event{Topic: "a"}); err != events.ErrClosed {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}
