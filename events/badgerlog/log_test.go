package badgerlog

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"tracker/events"
)

func openTest(t testing.TB, dir string) *Log {
	t.Helper()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestAppendScanReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := t.Context()
	want := []events.Event{
		{Topic: "owntracks/a/p", Payload: []byte(`{"_type":"location"}`), QoS: 1, Source: events.SourceEmbedded, Received: time.Unix(100, 5)},
		{Topic: "owntracks/a/p/info", Payload: []byte{0xff, 0x00, 0x01}, Retained: true, Dup: true, Source: "mqtt:tcp://x:1883", Received: time.Unix(101, 0), Client: "tracker-x", PacketID: 65535},
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
				g.QoS != w.QoS || g.Retained != w.Retained || g.Dup != w.Dup || g.Source != w.Source || g.Client != w.Client || g.PacketID != w.PacketID ||
				!g.Received.Equal(w.Received) {
				t.Errorf("event %d = %+v, want %+v", i+1, g, w)
			}
		}
	}
	check(l)
	_ = l.Close()
	l2 := openTest(t, dir)
	if l2.Head() != 4 {
		t.Fatalf("head after reopen = %d, want 4", l2.Head())
	}
	check(l2)
	seq, err := l2.Append(ctx, events.Event{Topic: "owntracks/c/d", Payload: []byte("{}")})
	if err != nil || seq != 5 {
		t.Fatalf("append after reopen = %d, %v; want 5", seq, err)
	}
}

// TestRedeliveryDecidedByTransport: only a DUP publish repeating the
// last event of its session and packet id is a redelivery. Content sent
// again on purpose (a card, a clear, the same card; a command repeated)
// is always a new event.
func TestRedeliveryDecidedByTransport(t *testing.T) {
	const topic = "owntracks/a/p/info"
	card := []byte(`{"_type":"card","name":"A"}`)
	ev := func(payload []byte, client string, pid uint16, dup bool) events.Event {
		return events.Event{Topic: topic, Payload: payload, QoS: 1, Retained: true, Source: events.SourceEmbedded,
			Client: client, PacketID: pid, Dup: dup}
	}
	tests := []struct {
		name string
		seq  []events.Event
		want []uint64 // DuplicateOf per event
	}{
		{"same content sent again on purpose", []events.Event{ev(card, "ph", 1, false), ev(card, "ph", 2, false)}, []uint64{0, 0}},
		{"card, clear, card", []events.Event{ev(card, "ph", 1, false), ev(nil, "ph", 2, false), ev(card, "ph", 3, false)}, []uint64{0, 0, 0}},
		{"redelivered: DUP, same session and packet id", []events.Event{ev(card, "ph", 7, false), ev(card, "ph", 7, true)}, []uint64{0, 1}},
		{"redelivered twice names the original", []events.Event{ev(card, "ph", 7, false), ev(card, "ph", 7, true), ev(card, "ph", 7, true)}, []uint64{0, 1, 1}},
		{"redelivered after other messages in flight", []events.Event{ev(card, "ph", 7, false), ev(nil, "ph", 8, false), ev(card, "ph", 7, true), ev(nil, "ph", 8, true)}, []uint64{0, 0, 1, 2}},
		{"same content without DUP", []events.Event{ev(card, "ph", 7, false), ev(card, "ph", 7, false)}, []uint64{0, 0}},
		{"DUP on another packet id", []events.Event{ev(card, "ph", 7, false), ev(card, "ph", 9, true)}, []uint64{0, 0}},
		{"DUP on another session", []events.Event{ev(card, "ph", 7, false), ev(card, "other", 7, true)}, []uint64{0, 0}},
		{"DUP with other content on the same packet id", []events.Event{ev(card, "ph", 7, false), ev(nil, "ph", 7, true)}, []uint64{0, 0}},
		{"packet id reused after ack, then redelivered", []events.Event{ev(card, "ph", 7, false), ev(nil, "ph", 7, false), ev(nil, "ph", 7, true)}, []uint64{0, 0, 2}},
		{"no identity: DUP repeating the last on its topic", []events.Event{ev(card, "", 0, false), ev(card, "", 0, true)}, []uint64{0, 1}},
		{"no identity: never across a different message on the topic", []events.Event{ev(card, "", 0, false), ev(nil, "", 0, false), ev(card, "", 0, true)}, []uint64{0, 0, 0}},
		{"admin events are never redeliveries", []events.Event{
			{Topic: "tracker/admin/user", Payload: card, Source: events.SourceAdmin, Client: "x", PacketID: 1},
			{Topic: "tracker/admin/user", Payload: card, Source: events.SourceAdmin, Client: "x", PacketID: 1, Dup: true},
		}, []uint64{0, 0}},
		{"HTTP posts are never redeliveries", []events.Event{
			{Topic: topic, Payload: card, Source: events.SourceHTTP}, {Topic: topic, Payload: card, Source: events.SourceHTTP, Dup: true},
		}, []uint64{0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, t.TempDir())
			for i, e := range tc.seq {
				seq, err := l.Append(t.Context(), e)
				if err != nil {
					t.Fatal(err)
				}
				got, err := l.Get(seq)
				if err != nil {
					t.Fatal(err)
				}
				if got.DuplicateOf != tc.want[i] {
					t.Errorf("event %d: DuplicateOf = %d, want %d", i+1, got.DuplicateOf, tc.want[i])
				}
			}
		})
	}
}

// TestRedeliveryRecognisedAfterRestart: a phone resends after the server
// crashed before its PUBACK; the window is read back at start.
func TestRedeliveryRecognisedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := t.Context()
	e := events.Event{Topic: "owntracks/a/p", Payload: []byte(`{"_type":"location","tst":1}`), QoS: 1,
		Source: events.SourceEmbedded, Client: "phone-a", PacketID: 42}
	s1, _ := l.Append(ctx, e)
	l.Append(ctx, events.Event{Topic: "owntracks/a/p", Payload: []byte(`{"_type":"location","tst":2}`), QoS: 1,
		Source: events.SourceEmbedded, Client: "phone-a", PacketID: 43})
	_ = l.Close()
	l = openTest(t, dir)
	e.Dup = true
	s3, _ := l.Append(ctx, e)
	got, err := l.Get(s3)
	if err != nil {
		t.Fatal(err)
	}
	if got.DuplicateOf != s1 || got.Client != "phone-a" || got.PacketID != 42 || !got.Dup {
		t.Errorf("after restart: %+v, want a redelivery of %d from phone-a packet 42", got, s1)
	}
}

// TestRedeliveryWindowBounded: identities older than the window are
// forgotten (memory stays bounded), also when read back at start.
func TestRedeliveryWindowBounded(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{DupWindow: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 10 {
		l.Append(ctx, events.Event{Topic: fmt.Sprintf("t/%d", i), Payload: []byte("x"), Source: events.SourceEmbedded, Client: "c", PacketID: uint16(i + 1)})
	}
	if len(l.byPacket) > 4 || len(l.byTopic) > 4 {
		t.Fatalf("window of 4 holds %d packets, %d topics", len(l.byPacket), len(l.byTopic))
	}
	old := events.Event{Topic: "t/0", Payload: []byte("x"), Source: events.SourceEmbedded, Client: "c", PacketID: 1, Dup: true}
	s, _ := l.Append(ctx, old)
	if g, _ := l.Get(s); g.DuplicateOf != 0 {
		t.Errorf("redelivery of an event beyond the window matched %d", g.DuplicateOf)
	}
	recent := events.Event{Topic: "t/9", Payload: []byte("x"), Source: events.SourceEmbedded, Client: "c", PacketID: 10, Dup: true}
	_ = l.Close()
	if l, err = Open(dir, Options{DupWindow: 4}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(l.byPacket) > 4 || len(l.byTopic) > 4 {
		t.Fatalf("window of 4 read back %d packets, %d topics", len(l.byPacket), len(l.byTopic))
	}
	s, _ = l.Append(ctx, recent)
	if g, _ := l.Get(s); g.DuplicateOf != 10 {
		t.Errorf("redelivery within the window: DuplicateOf = %d, want 10", g.DuplicateOf)
	}
}

func TestRetainedReplayFromExternalBrokerStoredOnce(t *testing.T) {
	l := openTest(t, t.TempDir())
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
	l := openTest(t, t.TempDir())
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
	l := openTest(t, t.TempDir())
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
	l := openTest(t, t.TempDir())
	_ = l.Close()
	if _, err := l.Append(t.Context(), events.Event{Topic: "a"}); err != events.ErrClosed {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

// TestRedeliveryWindowReadBackAcrossBlocks: at start the window is filled
// with exactly the newest DupWindow events, oldest first, also when they
// sit in blocks of several events and the oldest block is cut.
func TestRedeliveryWindowReadBackAcrossBlocks(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n, window = 23, 5
	ev := func(i int) events.Event {
		return events.Event{Topic: fmt.Sprintf("t/%d", i), Payload: []byte("x"), Source: events.SourceEmbedded, Client: "c", PacketID: uint16(i)}
	}
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ { // queued at once: blocks of several events
		wg.Add(1)
		l.AppendAsync(ev(i), func(_ uint64, err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	_ = l.Close()
	if l, err = Open(dir, Options{DupWindow: window}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var seqs []uint64
	for _, m := range l.ring {
		seqs = append(seqs, m.seq)
	}
	if want := []uint64{19, 20, 21, 22, 23}; !slices.Equal(seqs, want) {
		t.Errorf("window read back = %v, want %v", seqs, want)
	}
	for _, c := range []struct{ i, want int }{{19, 19}, {18, 0}} { // 19 first: 18's new event evicts it
		i, want := c.i, uint64(c.want)
		e := ev(i)
		e.Dup = true
		s, err := l.Append(t.Context(), e)
		if err != nil {
			t.Fatal(err)
		}
		if g, _ := l.Get(s); g.DuplicateOf != want {
			t.Errorf("resend of event %d: DuplicateOf = %d, want %d", i, g.DuplicateOf, want)
		}
	}
}
