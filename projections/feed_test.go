package projections

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestFeed: changes arrive in order on the follower's goroutine; Send
// never blocks, and more than the feed holds (or a nil) collapses into
// one nil, "everything changed".
func TestFeed(t *testing.T) {
	changed := func(user string) *Changes {
		c := NewChanges()
		c.Users[user] = true
		return c
	}
	tests := []struct {
		name string
		sent []*Changes
		want []string // users of each delivery, "*" for nil
	}{
		{"in order", []*Changes{changed("a"), changed("b")}, []string{"a", "b"}},
		{"rebuild", []*Changes{changed("a"), nil}, []string{"*"}},
		{"overflow", []*Changes{changed("a"), changed("b"), changed("c"), changed("d")}, []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFeed(3)
			for _, c := range tt.sent { // nobody follows yet: Send must not block
				f.Send(c)
			}
			ctx, cancel := context.WithCancel(t.Context())
			var mu sync.Mutex
			var got []string
			done := make(chan struct{})
			go func() {
				defer close(done)
				f.Run(ctx, func(c *Changes) {
					mu.Lock()
					defer mu.Unlock()
					if c == nil {
						got = append(got, "*")
						return
					}
					for u := range c.Users {
						got = append(got, u)
					}
				})
			}()
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n >= len(tt.want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			cancel()
			<-done
			if len(got) != len(tt.want) {
				t.Fatalf("delivered %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("delivered %q, want %q", got, tt.want)
				}
			}
		})
	}
}
