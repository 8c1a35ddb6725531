package projections

import (
	"context"
	"sync"
)

// Feed carries what each projection save changed from the projector to
// those that follow the changes (the live hub, the broker's revocation).
// They read the projections, so they are built after the projector; the
// feed is built before all of them, handed to the projector as its
// OnChange and run, with the followers, once they exist.
//
// Send never blocks the projector. When more changes wait than the feed
// holds, they collapse into one nil ("everything changed"), which every
// follower already handles after a rebuild.
type Feed struct {
	mu       sync.Mutex
	pending  []*Changes
	overflow bool
	max      int
	wake     chan struct{}
}

// NewFeed returns a feed holding up to n change sets (at least 1).
func NewFeed(n int) *Feed {
	return &Feed{max: max(n, 1), wake: make(chan struct{}, 1)}
}

// Send queues ch (nil: everything changed). The projector passes a fresh
// change set after each save, so ch is not reused.
func (f *Feed) Send(ch *Changes) {
	f.mu.Lock()
	if len(f.pending) >= f.max || ch == nil {
		f.pending, f.overflow = f.pending[:0], true
	} else {
		f.pending = append(f.pending, ch)
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run hands every change set to deliver, in order, until ctx ends.
func (f *Feed) Run(ctx context.Context, deliver func(*Changes)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		}
		f.mu.Lock()
		all, batch := f.overflow, f.pending
		f.pending, f.overflow = nil, false
		f.mu.Unlock()
		if all {
			deliver(nil)
			continue
		}
		for _, ch := range batch {
			deliver(ch)
		}
	}
}
