package badgerlog

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"tracker/events"
)

// TestEventsInOnePass: Log.Events gives exactly the events asked for, in
// order, across blocks of different sizes (group commits of one event
// and of many), skipping numbers not in the log and repeats.
func TestEventsInOnePass(t *testing.T) {
	l := openTest(t, t.TempDir())
	ctx := t.Context()
	ev := func(i int) events.Event {
		return events.Event{Topic: fmt.Sprintf("owntracks/u%d/p", i%3), Payload: fmt.Appendf(nil, `{"i":%d}`, i), Source: events.SourceEmbedded, Received: time.Unix(int64(i), 0)}
	}
	for i := range 10 { // one block each
		if _, err := l.Append(ctx, ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := 10; i < 3000; i++ { // large group commits
		wg.Add(1)
		l.AppendAsync(ev(i), func(_ uint64, err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	head := l.Head()
	for _, tc := range []struct {
		name string
		seqs []uint64
	}{
		{"none", nil},
		{"first and last", []uint64{1, head}},
		{"every third", func() (s []uint64) {
			for i := uint64(1); i <= head; i += 3 {
				s = append(s, i)
			}
			return s
		}()},
		{"all", func() (s []uint64) {
			for i := uint64(1); i <= head; i++ {
				s = append(s, i)
			}
			return s
		}()},
		{"zero, repeats and beyond the head", []uint64{0, 5, 5, 11, 2999, 3000, head + 1, head + 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			err := l.Events(ctx, tc.seqs, func(e events.Event) error {
				if want := fmt.Sprintf(`{"i":%d}`, e.Seq-1); string(e.Payload) != want || !e.Received.Equal(time.Unix(int64(e.Seq-1), 0)) {
					t.Errorf("event %d: %s at %v, want %s", e.Seq, e.Payload, e.Received, want)
				}
				got = append(got, e.Seq)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var want []uint64
			for _, s := range tc.seqs {
				if s >= 1 && s <= head && (len(want) == 0 || want[len(want)-1] != s) {
					want = append(want, s)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %d events %v..., want %d", len(got), got[:min(len(got), 10)], len(want))
			}
		})
	}
}
