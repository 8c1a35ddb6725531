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

// TestFeedFanOut: every follower gets each change, in the order sent;
// one that joins late is told it missed what came before (one nil),
// the others are not told again; one leaving leaves the others
// following.
func TestFeedFanOut(t *testing.T) {
	f := NewFeed()
	first, second := NewChanges(), NewChanges()
	first.Users["alice"] = true
	second.Users["bob"] = true

	type joined struct {
		got    chan *Changes
		cancel context.CancelFunc
		done   chan struct{}
	}
	join := func() joined {
		j := joined{got: make(chan *Changes, 8), done: make(chan struct{})}
		ctx, cancel := context.WithCancel(t.Context())
		j.cancel = cancel
		go func() {
			defer close(j.done)
			f.Run(ctx, func(ch *Changes) { j.got <- ch })
		}()
		return j
	}
	waitJoined := func(n int) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			f.mu.Lock()
			k := len(f.followers)
			f.mu.Unlock()
			if k == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d followers joined, want %d", k, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	drain := func(j joined) []*Changes {
		var out []*Changes
		for {
			select {
			case ch := <-j.got:
				out = append(out, ch)
			default:
				return out
			}
		}
	}

	a := join()
	waitJoined(1)
	b := join()
	waitJoined(2)
	if got := drain(a); len(got) != 0 {
		t.Errorf("a joined before any change and got %v", got)
	}
	f.Send(first)
	for name, j := range map[string]joined{"a": a, "b": b} {
		if got := drain(j); len(got) != 1 || got[0] != first {
			t.Errorf("%s got %v, want the first change once", name, got)
		}
	}

	c := join() // late: it missed the first change
	waitJoined(3)
	if got := drain(c); len(got) != 1 || got[0] != nil {
		t.Errorf("late follower got %v, want one nil (everything changed)", got)
	}
	if got := drain(a); len(got) != 0 {
		t.Errorf("a was told again on c's joining: %v", got)
	}

	a.cancel()
	<-a.done
	waitJoined(2)
	f.Send(second)
	if got := drain(a); len(got) != 0 {
		t.Errorf("a left and still got %v", got)
	}
	for name, j := range map[string]joined{"b": b, "c": c} {
		if got := drain(j); len(got) != 1 || got[0] != second {
			t.Errorf("%s got %v, want the second change once", name, got)
		}
	}
	b.cancel()
	c.cancel()
	<-b.done
	<-c.done
}
