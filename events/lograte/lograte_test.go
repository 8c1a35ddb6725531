package lograte

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(time.Minute, 3)
	l.now = func() time.Time { return now }
	type step struct {
		advance    time.Duration
		key        string
		ok         bool
		suppressed int
	}
	steps := []step{
		{0, "a", true, 0},
		{time.Second, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0}, // another client is not held back by a
		{time.Minute, "a", true, 2},
		{time.Second, "a", false, 0},
		{0, "c", true, 0},
		{0, "d", true, 0},           // full, but b's minute is over: b is forgotten
		{0, "e", true, 0},           // full: e takes the overflow key
		{0, "f", false, 0},          // which f shares
		{time.Minute, "f", true, 0}, // everything expired: f has a key again
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, n := l.Allow(s.key)
		if ok != s.ok || n != s.suppressed {
			t.Errorf("step %d (%s): Allow = %v, %d; want %v, %d", i, s.key, ok, n, s.ok, s.suppressed)
		}
	}
}

// However many keys a client invents, the limiter remembers at most max
// and lets at most max+1 lines through per interval.
func TestLimiterBounded(t *testing.T) {
	l := New(time.Minute, 100)
	passed := 0
	for i := range 100000 {
		if ok, _ := l.Allow(fmt.Sprint(i)); ok {
			passed++
		}
	}
	if passed > 101 || len(l.keys) > 101 {
		t.Errorf("%d lines passed, %d keys kept; want at most 101 each", passed, len(l.keys))
	}
}
