package projections

import (
	"context"
	"slices"
	"sync"
)

// Feed carries what each projection save changed from the projector to
// those that follow the changes (the live hub and the broker's
// revocation, the notification rules). They read the projections, so
// they are built after the projector; the feed is built before all of
// them and handed to the projector as its OnChange, and each follower
// joins it (Run) once it exists.
//
// Send calls every follower directly, one after the other in the order
// they joined, on the projector's goroutine, while no other apply runs:
// each follower must not block (queue the change and return), or it
// stalls ingest and every other follower. The *Changes is shared by all
// followers: read it, never keep or change it after deliver returns.
//
// A follower that joins after changes were sent has missed them: it is
// given one nil ("everything changed") when it joins, so it reads the
// projections afresh. Each follower is told so on its own.
type Feed struct {
	mu        sync.Mutex
	followers []*follower
	sent      bool // a change was sent: whoever joins now has missed it
}

type follower struct{ deliver func(*Changes) }

// NewFeed returns a feed nobody follows yet.
func NewFeed() *Feed { return &Feed{} }

// Send passes ch (nil: everything changed) to every follower.
func (f *Feed) Send(ch *Changes) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = true
	for _, fl := range f.followers {
		fl.deliver(ch)
	}
}

// Run makes deliver a follower until ctx ends. deliver is called on the
// sender's goroutine and must not block, nor call Send or Run.
func (f *Feed) Run(ctx context.Context, deliver func(*Changes)) {
	fl := &follower{deliver: deliver}
	f.mu.Lock()
	f.followers = append(f.followers, fl)
	if f.sent {
		deliver(nil)
	}
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.followers = slices.DeleteFunc(f.followers, func(o *follower) bool { return o == fl })
	f.mu.Unlock()
}
