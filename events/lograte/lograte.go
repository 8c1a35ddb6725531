// Package lograte keeps a line that a client can repeat at will (a
// refused login, retried by a misconfigured phone every second) from
// filling the log: per key (a client address), the first line passes,
// then at most one per interval, which carries the count held back.
package lograte

import (
	"sync"
	"time"
)

// Limiter decides which lines to log. The zero value is not usable; use
// New.
type Limiter struct {
	every time.Duration
	max   int
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last       time.Time // when a line for the key was last logged
	suppressed int       // lines held back since
}

// overflow is the key every new key shares once the limiter is full, so
// a client that varies its address cannot grow the map or the log.
const overflow = "\x00overflow"

// New lets one line per key through every interval, remembering at most
// max keys (older ones are forgotten first once expired).
func New(every time.Duration, max int) *Limiter {
	return &Limiter{every: every, max: max, now: time.Now, keys: map[string]*entry{}}
}

// Allow reports whether a line for key may be logged now and, if so, how
// many lines for key it held back since the last one.
func (l *Limiter) Allow(key string) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e, found := l.keys[key]
	if !found {
		if len(l.keys) >= l.max {
			l.sweep(now)
		}
		if len(l.keys) >= l.max {
			key = overflow
			e, found = l.keys[key]
		}
		if !found {
			e = &entry{}
			l.keys[key] = e
			e.last = now
			return true, 0
		}
	}
	if now.Sub(e.last) < l.every {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// sweep forgets keys whose interval has passed (with the count they
// held back: memory stays bounded under addresses that each try twice).
func (l *Limiter) sweep(now time.Time) {
	for k, e := range l.keys {
		if now.Sub(e.last) >= l.every {
			delete(l.keys, k)
		}
	}
}
