package projections

import (
	"context"
	"testing"
	"time"
)

// TestFeed: a change reaches the follower at once, on the sender's
// goroutine (so in the projector's order); what was sent before anyone
// followed arrives as one nil, "everything changed"; after the follower
// leaves, nothing reaches it.
func TestFeed(t *testing.T) {
	changed := NewChanges()
	changed.Users["alice"] = true
	f := NewFeed()
	f.Send(changed) // nobody follows yet: remembered, never blocks

	got := make(chan *Changes, 4)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx, func(ch *Changes) { got <- ch }) }()
	select {
	case ch := <-got:
		if ch != nil {
			t.Errorf("joining follower got %+v, want nil (everything changed)", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the change sent before the follower joined never arrived")
	}
	f.Send(changed)
	select {
	case ch := <-got:
		if ch != changed {
			t.Errorf("got %+v, want the change set sent", ch)
		}
	default:
		t.Fatal("Send returned before the follower had the change")
	}
	cancel()
	<-done
	f.Send(changed)
	select {
	case ch := <-got:
		t.Errorf("a follower that left got %+v", ch)
	default:
	}
}
