package projections

import (
	"context"
	"sync"
)

// Feed carries what each projection save changed from the projector to
// those that follow the changes (the live hub, the broker's revocation).
// They read the projections, so they are built after the projector; the
// feed is built before all of them and handed to the projector as its
// OnChange, and the follower joins it (Run) once it exists.
//
// Send calls the follower directly, on the projector's goroutine, while
// no other apply runs: the follower must not block. Changes sent while
// nobody follows are remembered as one nil ("everything changed"), given
// to the follower when it joins.
type Feed struct {
	mu     sync.Mutex
	follow func(*Changes)
	missed bool
}

// NewFeed returns a feed nobody follows yet.
func NewFeed() *Feed { return &Feed{} }

// Send passes ch (nil: everything changed) to the follower.
func (f *Feed) Send(ch *Changes) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.follow == nil {
		f.missed = true
		return
	}
	f.follow(ch)
}

// Run makes deliver the follower until ctx ends.
func (f *Feed) Run(ctx context.Context, deliver func(*Changes)) {
	f.mu.Lock()
	f.follow = deliver
	if f.missed {
		f.missed = false
		deliver(nil)
	}
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.follow = nil
	f.mu.Unlock()
}
