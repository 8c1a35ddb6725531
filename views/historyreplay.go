package views

import "time"

// ReplaySpeeds are the speeds a replay plays at (times real time), as the
// speed selects offer them.
var ReplaySpeeds = []string{"1", "10", "60", "600", "3600"}

// ReplayFrom and ReplayTo are the period the history page replays: its
// range, up to now (nothing later has happened).
func (h History) ReplayFrom() time.Time { return h.From }

// ReplayTo is the end of the replayed period.
func (h History) ReplayTo() time.Time {
	if h.Now.Before(h.To) {
		return h.Now
	}
	return h.To
}

// ReplaySpeed is the speed a history replay starts at: 600×, or 3600× for
// a period longer than 6 hours (a day plays in 24 s).
func (h History) ReplaySpeed() string {
	if h.ReplayTo().Sub(h.ReplayFrom()) > 6*time.Hour {
		return "3600"
	}
	return "600"
}

// CanReplay reports whether the page has something to replay: points in
// use over a period that has begun.
func (h History) CanReplay() bool { return h.Count > 0 && h.ReplayTo().After(h.ReplayFrom()) }
