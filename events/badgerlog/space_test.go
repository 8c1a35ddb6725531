package badgerlog

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events"
)

// The log refuses appends while the volume is below the minimum free
// space, stores nothing of them, stays usable, and takes appends again
// once space is freed (the real file system is tested in cmd/tracker on a
// tmpfs).
func TestAppendRefusedWhileDiskLow(t *testing.T) {
	dir := t.TempDir()
	var free atomic.Uint64
	free.Store(1 << 30)
	space := NewSpace(dir, 64<<20, nil)
	space.statfs = func(string) (uint64, error) { return free.Load(), nil }
	l, err := Open(dir, Options{Space: space})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	ctx := t.Context()
	ev := func(i int) events.Event {
		return events.Event{Topic: "owntracks/a/p", Payload: fmt.Appendf(nil, `{"_type":"location","tst":%d}`, i), QoS: 1, Source: events.SourceEmbedded}
	}
	if _, err := l.Append(ctx, ev(1)); err != nil {
		t.Fatal(err)
	}
	free.Store(64<<20 - 1)
	time.Sleep(spaceCheckEvery)
	for i := 2; i < 5; i++ {
		if seq, err := l.Append(ctx, ev(i)); !errors.Is(err, events.ErrDiskFull) {
			t.Fatalf("append %d with the disk low: seq %d, %v; want ErrDiskFull", i, seq, err)
		}
	}
	if !space.Low() || l.Head() != 1 {
		t.Fatalf("Low() = %v, head %d; want true, 1", space.Low(), l.Head())
	}
	free.Store(1 << 30)
	time.Sleep(spaceCheckEvery)
	seq, err := l.Append(ctx, ev(2))
	if err != nil || seq != 2 {
		t.Fatalf("append after space returned: seq %d, %v; want 2", seq, err)
	}
	if space.Low() {
		t.Error("still Low() after space returned")
	}
}

// A batch that would itself cross the minimum is refused even when the
// last look at the file system was recent: bytes let through count.
func TestSpaceCountsWhatItLetThrough(t *testing.T) {
	s := NewSpace("", 100, nil)
	calls := 0
	s.statfs = func(string) (uint64, error) { calls++; return 1000, nil }
	for range 9 {
		if err := s.Reserve(100); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Reserve(100); !errors.Is(err, events.ErrDiskFull) {
		t.Fatalf("the 10th reservation of 100 bytes with 1000 free and 100 kept: %v, want ErrDiskFull", err)
	}
	if calls > 2 {
		t.Errorf("%d statfs calls within 100 ms", calls)
	}
}
