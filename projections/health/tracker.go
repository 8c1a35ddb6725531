package health

import (
	"context"
	"sync"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
)

// Tracker keeps the health fold in memory, folded from the whole log once
// someone first asks for it (the devices page, its API, a /metrics
// scrape) and then following it: the figures are derived from the log
// alone, so a restart (or a rebuild) reproduces them. Not at start: reading
// a million events costs seconds of CPU, and keeps every page of the
// log's tables mapped into the process (18 MB of RSS at rest, for good)
// on a server whose admin may never look.
type Tracker struct {
	mu sync.RWMutex
	h  *Health

	wanted   chan struct{} // closed by the first demand
	want     sync.Once
	caughtUp chan struct{} // closed once the first pass over the log is done

	// OnCaughtUp, when set, runs once after the first pass over the log
	// (serve returns that pass's garbage to the system).
	OnCaughtUp func()
}

// firstWait bounds how long the first demand waits for the first pass: a
// page then shows what is folded so far rather than hang on a huge log.
const firstWait = 10 * time.Second

// NewTracker returns a tracker that has folded nothing yet (see Run).
func NewTracker() *Tracker {
	return &Tracker{h: New(), wanted: make(chan struct{}), caughtUp: make(chan struct{})}
}

// demand starts the fold, and waits for its first pass up to firstWait.
func (t *Tracker) demand() {
	t.want.Do(func() { close(t.wanted) })
	select {
	case <-t.caughtUp:
	case <-time.After(firstWait):
	}
}

// Report returns the figures as of now.
func (t *Tracker) Report(now time.Time) Report {
	t.demand()
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.h.Report(now)
}

// Applied is the newest event folded.
func (t *Tracker) Applied() uint64 {
	t.want.Do(func() { close(t.wanted) })
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.h.applied
}

// foldBatch is how many events are folded under one lock.
const foldBatch = 512

// Run folds log from its first event, once first asked for (Report,
// Applied), then each new one, until ctx ends. Events the phones did not
// send (admin definitions, the server's commands) are skipped before
// decoding.
func (t *Tracker) Run(ctx context.Context, log events.Reader, d owntracks.Decoder) error {
	select {
	case <-ctx.Done():
		return nil
	case <-t.wanted:
	}
	first := true
	type decoded struct {
		e   events.Event
		m   owntracks.Message
		err error
	}
	batch := make([]decoded, 0, foldBatch)
	next := uint64(1)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		t.mu.Lock()
		for _, b := range batch {
			t.h.Apply(b.e, b.m, b.err)
		}
		t.mu.Unlock()
		clear(batch) // let the payloads go
		batch = batch[:0]
	}
	for {
		changed := log.Changed()
		err := log.Scan(ctx, next, func(e events.Event) error {
			next = e.Seq + 1
			if transportOf(e.Source) == "" {
				t.mu.Lock()
				t.h.applied = max(t.h.applied, e.Seq)
				t.mu.Unlock()
				return nil
			}
			b := decoded{e: e}
			b.m, b.err = d.DecodeAt(e.Topic, e.Payload, e.Received)
			b.e.Payload = nil // the fold reads only the decoded message
			batch = append(batch, b)
			if len(batch) == foldBatch {
				flush()
			}
			return nil
		})
		flush()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if first {
			first = false
			if t.OnCaughtUp != nil {
				t.OnCaughtUp()
			}
			close(t.caughtUp)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
